import { PromoteConfig } from '../config/promote';
import { Config } from '../config/types';
import { UserError } from './hook-main';
import { log } from './log';
import { runRegistryJob, stepImage } from './registry-job';
import { Runtime, processRuntime } from './runtime';

/**
 * A promote step: the image a step built (and others tested) gets new tags, by digest, so
 * the digest that was tested is the digest that ships. Nothing is built.
 */
export async function runPromoteJob(
  config: Config,
  promote: PromoteConfig,
  notices: string[],
  env: NodeJS.ProcessEnv,
  runtime: Runtime = processRuntime(),
): Promise<number> {
  return runRegistryJob(config, 'promote', notices, env, runtime, async ({ lookUpManifest, putManifest }, access) => {
    const source = 'ref' in promote.from ? promote.from.ref : await stepImage(promote.from.step, runtime, 'promote.from', 'let it push');
    log.group(`:rocket: Promoting ${source}`);
    const manifest = await lookUpManifest(source, access);
    if (!manifest) throw new UserError(`promote.from: ${source} does not exist in its registry`);
    for (const ref of config.refs) await putManifest(manifest, ref, access);
    return { digest: manifest.digest, isIndex: /index|manifest\.list/.test(manifest.mediaType), promotedFrom: source };
  });
}

import { Config } from '../config/types';
import { PromoteConfig } from '../config/promote';
import { imageRepository } from '../config/image-refs';
import { planBuildRequest } from '../plan/build-request';
import { planJob } from '../plan/plan';
import { planOrFail } from './config-or-fail';
import { handOn } from './hand-on';
import { UserError } from './hook-main';
import { useJobDockerConfig } from './job-docker-config';
import { log } from './log';
import { logIn } from './registry-login';
import { Runtime, processRuntime } from './runtime';
import { createStateDir, stateDirPath } from './state-dir';
import { runStepCommand } from './step-command';

type Env = NodeJS.ProcessEnv;

/**
 * The command hook of a promote step: the image a step built (and others tested) gets new
 * tags, by digest, so the digest that was tested is the digest that ships. Nothing is built.
 */
export async function runPromoteJob(config: Config, promote: PromoteConfig, notices: string[], env: Env, runtime: Runtime = processRuntime()): Promise<number> {
  notices.forEach((notice) => log.info(`buildkit: ${notice}`));
  if (!config.push) {
    log.info('buildkit: promote: this branch does not push (push-branches); nothing promoted');
    return runStepCommand(env, runtime);
  }
  const stateDir = stateDirPath(env);
  // The logins a push of these refs needs, as the environment hook planned them.
  const plan = planOrFail(() => planJob(config, planBuildRequest(config, env, stateDir, runtime.now()), env, {}));
  const source = await sourceRef(promote, runtime);
  log.group(`:rocket: Promoting ${source}`);
  config.refs.forEach((ref) => log.info(`buildkit: promote: ${ref}`));
  if (config.dryRun) return 0;
  createStateDir(stateDir);
  useJobDockerConfig(plan.logins, env, stateDir);
  await logIn(plan.logins, env, stateDir, runtime);
  const started = Date.now();
  const { lookUpManifest, putManifest, registryAccess } = await import('./image-tools');
  const access = registryAccess(env);
  const manifest = await lookUpManifest(source, access);
  if (!manifest) throw new UserError(`promote.from: ${source} does not exist in its registry`);
  for (const ref of config.refs) await putManifest(manifest, ref, access);
  const report = {
    config,
    request: plan.request,
    env,
    result: { digest: manifest.digest, isIndex: /index|manifest\.list/.test(manifest.mediaType), targets: {} },
    refs: config.refs,
    seconds: (Date.now() - started) / 1000,
    warnings: [],
    promotedFrom: source,
  };
  const built = await handOn(report, {}, runtime);
  if (!('exports' in built)) return built.code;
  return runtime.cancelled() ? 1 : runStepCommand({ ...env, ...built.exports }, runtime);
}

/** `repository@sha256:...`: given, or read from the meta-data the building step set. */
async function sourceRef(promote: PromoteConfig, runtime: Runtime): Promise<string> {
  if ('ref' in promote.from) return promote.from.ref;
  const { step } = promote.from;
  const [digest, refs] = await Promise.all([runtime.agent.getMetaData(`buildkit.${step}.digest`), runtime.agent.getMetaData(`buildkit.${step}.image-refs`)]);
  const first = refs.value?.trim().split(/\s+/)[0];
  if (!digest.value?.trim() || !first) {
    throw new UserError(
      `promote.from: step ${step} left no image to promote (meta-data buildkit.${step}.digest and .image-refs: ${digest.error ?? refs.error ?? 'empty'}); ` +
        'make this step depend on it, and let it push',
    );
  }
  return `${imageRepository(first)}@${digest.value.trim()}`;
}

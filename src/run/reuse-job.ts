import { Config } from '../config/types';
import { Plan } from '../plan/plan';
import { SkipPlan } from '../plan/skip-plan';
import { Reuse } from '../report/report-build';
import { Built, handOn } from './hand-on';
import type { InputsKey } from './inputs-key';
import type { Reusable } from './reuse-image';
import { log } from './log';
import { Runtime } from './runtime';

type Env = NodeJS.ProcessEnv;

// dist/image-tools.js: loaded only by the jobs that use it.
const skipUnchanged = () => import('./image-tools');

/** The key of what the build reads, timed for the log. */
export async function hashInputs(skip: SkipPlan, runtime: Runtime): Promise<InputsKey> {
  const started = Date.now();
  const inputs = await (await skipUnchanged()).inputsKey(skip, runtime.now());
  const mb = (inputs.bytes / 1e6).toFixed(1);
  log.info(`buildkit: skip-unchanged: inputs key ${inputs.key} (${inputs.files} files, ${mb} MB hashed in ${Date.now() - started} ms)`);
  inputs.warnings.forEach((warning) => log.warn(warning));
  return inputs;
}

/** Whether the inputs tag exists, with the job's Docker config (the agent's own in a dry run). */
async function lookUp(inputs: InputsKey, env: Env): Promise<{ found?: Reusable; warning?: string }> {
  const { findReusable, registryAccess } = await skipUnchanged();
  return findReusable(inputs, registryAccess(env));
}

/** dry-run: whether it would reuse. */
export async function printReuse(skip: SkipPlan, inputs: InputsKey, env: Env): Promise<void> {
  if (!skip.reuses) {
    log.info('buildkit: dry-run: no-cache is set: it would build, and push the inputs tag too');
    return;
  }
  const { found, warning } = await lookUp(inputs, env);
  const miss = skip.writes ? 'it would build and push that tag too' : 'it would build (a fork never pushes that tag)';
  if (warning) log.info(`buildkit: dry-run: ${warning.replace(/; building$/, '')}: the job looks again; when it is missing, ${miss}`);
  else if (found) log.info(`buildkit: dry-run: ${inputs.ref} exists (${found.manifest.digest}): it would reuse it and not build the image below`);
  else log.info(`buildkit: dry-run: ${inputs.ref} does not exist: ${miss}`);
}

/**
 * When an image of the same inputs exists: tag it and hand it on as a build would, instead of
 * building. Otherwise the reason the job builds, for its report.
 */
export async function reuseImage(
  config: Config,
  plan: Plan,
  inputs: InputsKey,
  env: Env,
  runtime: Runtime,
  warnings: string[],
): Promise<{ built: Built } | { miss: Reuse }> {
  const skip = plan.skip as SkipPlan;
  const miss = (why: string): { miss: Reuse } => ({ miss: { reused: false, ref: inputs.ref, why } });
  if (!skip.reuses) return miss('no-cache is set, so it was built');
  const started = Date.now();
  log.group(':recycle: Looking for an image built from the same inputs');
  const { found, warning } = await lookUp(inputs, env);
  const fallBack = (problem: string) => {
    log.warn(problem);
    warnings.push(problem);
    return miss('the registry could not be asked, so it was built');
  };
  if (warning) return fallBack(warning);
  if (!found) {
    log.info(`buildkit: skip-unchanged: no image has these inputs yet (${inputs.ref}); building`);
    return miss(
      skip.writes ? `no image had these inputs yet; tagged \`${inputs.ref}\` for the next build` : 'no image had these inputs yet (a fork never tags them)',
    );
  }
  const { digest } = found.manifest;
  log.info(`buildkit: unchanged since ${found.since ?? 'an earlier build'}, reusing ${digest}`);
  const { registryAccess, tagReused } = await skipUnchanged();
  const failed = await tagReused(skip, found, plan.request, registryAccess(env), runtime);
  if (runtime.cancelled()) {
    log.cancelled('job', String(runtime.cancelled()));
    return { built: { code: 1 } };
  }
  if (failed) return fallBack(failed);
  const report = {
    config,
    request: plan.request,
    env,
    result: { digest, isIndex: /index|manifest\.list/.test(found.manifest.mediaType), targets: {} },
    refs: plan.request.refs,
    seconds: (Date.now() - started) / 1000,
    warnings,
    reuse: { reused: true, ref: inputs.ref, since: found.since },
  };
  return { built: await handOn(report, plan.exports, runtime) };
}

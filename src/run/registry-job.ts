import { imageRepository } from '../config/image-refs';
import { Config } from '../config/types';
import { planBuildRequest } from '../plan/build-request';
import { planJob } from '../plan/plan';
import { planOrFail } from './config-or-fail';
import { handOn } from './hand-on';
import { UserError } from './hook-main';
import { useJobDockerConfig } from './job-docker-config';
import { log } from './log';
import { logIn } from './registry-login';
import { Runtime } from './runtime';
import { createStateDir, stateDirPath } from './state-dir';
import { runStepCommand } from './step-command';

type Env = NodeJS.ProcessEnv;
type ImageTools = typeof import('./image-tools');

/** What a step that builds nothing put under its refs, for the report. */
export interface PutImage {
  digest: string;
  isIndex: boolean;
  platforms?: string[];
  promotedFrom?: string;
}

/**
 * The command hook of a step that builds nothing (promote, merge): the logins a push of its
 * refs needs, as the environment hook planned them; then `put`, with the registry client;
 * then what it put handed on as after a build, and the step command. On a branch
 * `push-branches` leaves out, only the step command runs.
 */
export async function runRegistryJob(
  config: Config,
  what: 'promote' | 'merge',
  notices: string[],
  env: Env,
  runtime: Runtime,
  put: (tools: ImageTools, access: ReturnType<ImageTools['registryAccess']>) => Promise<PutImage>,
): Promise<number> {
  notices.forEach((notice) => log.info(`buildkit: ${notice}`));
  if (!config.push) {
    log.info(`buildkit: ${what}: this branch does not push (push-branches); nothing done`);
    return runStepCommand(env, runtime);
  }
  const stateDir = stateDirPath(env);
  const plan = planOrFail(() => planJob(config, planBuildRequest(config, env, stateDir, runtime.now()), env, {}));
  if (config.dryRun) {
    config.refs.forEach((ref) => log.info(`buildkit: dry-run: ${what} would put the image under ${ref}`));
    return 0;
  }
  createStateDir(stateDir);
  useJobDockerConfig(plan.logins, env, stateDir);
  await logIn(plan.logins, env, stateDir, runtime);
  const started = Date.now();
  const tools = await import('./image-tools');
  const image = await put(tools, tools.registryAccess(env));
  config.refs.forEach((ref) => log.info(`buildkit: ${what}: ${ref}`));
  const report = {
    config,
    request: image.platforms ? { ...plan.request, platforms: image.platforms } : plan.request,
    env,
    result: { digest: image.digest, isIndex: image.isIndex, targets: {} },
    refs: config.refs,
    seconds: (Date.now() - started) / 1000,
    warnings: [],
    promotedFrom: image.promotedFrom,
  };
  const built = await handOn(report, {}, runtime);
  if (!('exports' in built)) return built.code;
  return runtime.cancelled() ? 1 : runStepCommand({ ...env, ...built.exports }, runtime);
}

/** `repository@sha256:...` of the image a step pushed, from its `buildkit.<key>.digest` and `.image-refs` meta-data. */
export async function stepImage(step: string, runtime: Runtime, option: string, hint: string): Promise<string> {
  const [digest, refs] = await Promise.all([runtime.agent.getMetaData(`buildkit.${step}.digest`), runtime.agent.getMetaData(`buildkit.${step}.image-refs`)]);
  const first = refs.value?.trim().split(/\s+/)[0];
  if (!digest.value?.trim() || !first) {
    throw new UserError(
      `${option}: step ${step} left no image (meta-data buildkit.${step}.digest and .image-refs: ${digest.error ?? refs.error ?? 'empty'}); ` +
        `make this step depend on it, and ${hint}`,
    );
  }
  return `${imageRepository(first)}@${digest.value.trim()}`;
}

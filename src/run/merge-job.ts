import { createHash } from 'node:crypto';
import { MergeConfig } from '../config/merge';
import { imageRepository } from '../config/image-refs';
import { Config } from '../config/types';
import { planBuildRequest } from '../plan/build-request';
import { planJob } from '../plan/plan';
import type { PlatformDescriptor } from '../registry/distribution';
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

const ociIndex = 'application/vnd.oci.image.index.v1+json';

/**
 * The command hook of a merge step: the images other steps pushed (one per platform, built
 * natively on each queue) become one multi-platform index under the step's tags. Each
 * step's digest comes from its meta-data; every platform must be there, and only once.
 */
export async function runMergeJob(config: Config, merge: MergeConfig, notices: string[], env: Env, runtime: Runtime = processRuntime()): Promise<number> {
  notices.forEach((notice) => log.info(`buildkit: ${notice}`));
  if (!config.push) {
    log.info('buildkit: merge: this branch does not push (push-branches); nothing merged');
    return runStepCommand(env, runtime);
  }
  const stateDir = stateDirPath(env);
  const plan = planOrFail(() => planJob(config, planBuildRequest(config, env, stateDir, runtime.now()), env, {}));
  const sources = await Promise.all(merge.steps.map((step) => stepImage(step, runtime)));
  const repositories = [...new Set(sources.map((source) => imageRepository(source.ref)))];
  if (repositories.length > 1)
    throw new UserError(`merge.steps: the steps pushed to different repositories (${repositories.join(', ')}); push them to one image`);
  log.group(`:twisted_rightwards_arrows: Merging ${sources.map((source) => `${source.step} (${source.ref})`).join(', ')}`);
  if (config.dryRun) {
    config.refs.forEach((ref) => log.info(`buildkit: merge: would put the index under ${ref}`));
    return 0;
  }
  createStateDir(stateDir);
  useJobDockerConfig(plan.logins, env, stateDir);
  await logIn(plan.logins, env, stateDir, runtime);
  const started = Date.now();
  const { indexEntries, isAttestationEntry, lookUpManifest, putManifest, registryAccess } = await import('./image-tools');
  const access = registryAccess(env);
  const entries: Array<{ step: string; entries: PlatformDescriptor[] }> = [];
  for (const source of sources) {
    const manifest = await lookUpManifest(source.ref, access);
    if (!manifest) throw new UserError(`merge.steps: ${source.step}'s image ${source.ref} is not in its registry`);
    entries.push({ step: source.step, entries: await indexEntries(manifest, access) });
  }
  checkPlatforms(entries, merge.platforms, isAttestationEntry);
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: ociIndex, manifests: entries.flatMap((source) => source.entries) }));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const index = { ref: `${repositories[0]}@${digest}`, repository: repositories[0] as string, digest, mediaType: ociIndex, bytes };
  for (const ref of config.refs) {
    await putManifest(index, ref, access);
    log.info(`buildkit: merge: ${ref}`);
  }
  const report = {
    config,
    request: { ...plan.request, platforms: platformsOf(entries, isAttestationEntry) },
    env,
    result: { digest, isIndex: true, targets: {} },
    refs: config.refs,
    seconds: (Date.now() - started) / 1000,
    warnings: [],
  };
  const built = await handOn(report, {}, runtime);
  if (!('exports' in built)) return built.code;
  return runtime.cancelled() ? 1 : runStepCommand({ ...env, ...built.exports }, runtime);
}

async function stepImage(step: string, runtime: Runtime): Promise<{ step: string; ref: string }> {
  const [digest, refs] = await Promise.all([runtime.agent.getMetaData(`buildkit.${step}.digest`), runtime.agent.getMetaData(`buildkit.${step}.image-refs`)]);
  const first = refs.value?.trim().split(/\s+/)[0];
  if (!digest.value?.trim() || !first) {
    throw new UserError(
      `merge.steps: step ${step} left no image to merge (meta-data buildkit.${step}.digest and .image-refs: ${digest.error ?? refs.error ?? 'empty'}); ` +
        'make this step depend on it, and let it push (push-by-digest: true)',
    );
  }
  return { step, ref: `${imageRepository(first)}@${digest.value.trim()}` };
}

type IsAttestation = (entry: PlatformDescriptor) => boolean;

const platformText = (entry: PlatformDescriptor) => [entry.platform.os, entry.platform.architecture, entry.platform.variant].filter(Boolean).join('/');

function platformsOf(sources: Array<{ entries: PlatformDescriptor[] }>, isAttestation: IsAttestation): string[] {
  return sources.flatMap((source) => source.entries.filter((entry) => !isAttestation(entry)).map(platformText));
}

/** Every step brings at least one platform, no two bring the same, and, when listed, exactly merge.platforms. */
function checkPlatforms(sources: Array<{ step: string; entries: PlatformDescriptor[] }>, expected: string[], isAttestation: IsAttestation): void {
  const seen = new Map<string, string>();
  const problems: string[] = [];
  for (const { step, entries } of sources) {
    const platforms = entries.filter((entry) => !isAttestation(entry)).map(platformText);
    if (platforms.length === 0) problems.push(`${step} brought no image, only attestations`);
    for (const platform of platforms) {
      const other = seen.get(platform);
      if (other) problems.push(`${platform} was built by both ${other} and ${step}`);
      seen.set(platform, step);
    }
  }
  if (expected.length > 0) {
    const missing = expected.filter((platform) => !seen.has(platform));
    const extra = [...seen.keys()].filter((platform) => !expected.includes(platform));
    if (missing.length > 0) problems.push(`missing ${missing.join(', ')} (merge.platforms)`);
    if (extra.length > 0) problems.push(`${extra.join(', ')} not in merge.platforms`);
  }
  if (problems.length > 0) throw new UserError('merge: the images do not make one multi-platform image:', problems);
}

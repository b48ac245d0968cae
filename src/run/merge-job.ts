import { createHash } from 'node:crypto';
import { MergeConfig } from '../config/merge';
import { imageRepository } from '../config/image-refs';
import { Config } from '../config/types';
import type { PlatformDescriptor } from '../registry/distribution';
import { UserError } from './hook-main';
import { log } from './log';
import { runRegistryJob, stepImage } from './registry-job';
import { Runtime, processRuntime } from './runtime';

const ociIndex = 'application/vnd.oci.image.index.v1+json';

/**
 * A merge step: the images other steps pushed (one per platform, built natively on each
 * queue) become one multi-platform index under the step's tags. Each step's digest comes
 * from its meta-data; every platform must be there, and only once.
 */
export async function runMergeJob(
  config: Config,
  merge: MergeConfig,
  notices: string[],
  env: NodeJS.ProcessEnv,
  runtime: Runtime = processRuntime(),
): Promise<number> {
  return runRegistryJob(config, 'merge', notices, env, runtime, async ({ indexEntries, isAttestationEntry, lookUpManifest, putManifest }, access) => {
    const refs = await Promise.all(merge.steps.map((step) => stepImage(step, runtime, 'merge.steps', 'let it push (push-by-digest: true)')));
    const repositories = [...new Set(refs.map(imageRepository))];
    if (repositories.length > 1)
      throw new UserError(`merge.steps: the steps pushed to different repositories (${repositories.join(', ')}); push them to one image`);
    log.group(`:twisted_rightwards_arrows: Merging ${merge.steps.map((step, i) => `${step} (${refs[i]})`).join(', ')}`);
    const sources: Array<{ step: string; entries: PlatformDescriptor[] }> = [];
    for (const [i, ref] of refs.entries()) {
      const manifest = await lookUpManifest(ref, access);
      if (!manifest) throw new UserError(`merge.steps: ${merge.steps[i]}'s image ${ref} is not in its registry`);
      sources.push({ step: merge.steps[i] as string, entries: await indexEntries(manifest, access) });
    }
    checkPlatforms(sources, merge.platforms, isAttestationEntry);
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: ociIndex, manifests: sources.flatMap((source) => source.entries) }));
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const index = { ref: `${repositories[0]}@${digest}`, repository: repositories[0] as string, digest, mediaType: ociIndex, bytes };
    for (const ref of config.refs) await putManifest(index, ref, access);
    return { digest, isIndex: true, platforms: platformsOf(sources, isAttestationEntry) };
  });
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

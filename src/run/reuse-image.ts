import { SkipPlan } from '../plan/skip-plan';
import { Manifest, RegistryAccess, imageLabels, lookUpManifest, putManifest } from '../registry/distribution';
import { userDockerConfigDir } from '../registry/docker-config';
import { InputsKey } from './inputs-key';
import { log } from './log';
import { Runtime } from './runtime';

type Env = NodeJS.ProcessEnv;

/** An image built earlier from the same inputs, and the build that made it when its labels tell. */
export interface Reusable {
  manifest: Manifest;
  /** `build 42 (commit 1a2b3c4)`, from the image's OCI labels. */
  since?: string;
}

/** With the job's Docker config (its logins) and the agent's TLS settings for registries. */
export function registryAccess(env: Env): RegistryAccess {
  return { dockerConfigDir: userDockerConfigDir(env), env };
}

/**
 * The image tagged with these inputs, or undefined. A lookup that fails (registry down,
 * no pull access) is a warning: the job builds, as it would without skip-unchanged.
 */
export async function findReusable(key: InputsKey, access: RegistryAccess): Promise<{ found?: Reusable; warning?: string }> {
  try {
    const manifest = await lookUpManifest(key.ref, access);
    if (!manifest) return {};
    const labels = await imageLabels(manifest, access).catch(() => ({}) as Record<string, string>);
    return { found: { manifest, since: builtBy(labels) } };
  } catch (error) {
    if (isAbort(error)) throw error;
    return { warning: `skip-unchanged: could not look up the inputs tag (${messageOf(error)}); building` };
  }
}

/** `build 42 (commit 1a2b3c4)` from com.buildkite.build-url and org.opencontainers.image.revision. */
function builtBy(labels: Record<string, string>): string | undefined {
  const build = /\/builds\/(\d+)/.exec(labels['com.buildkite.build-url'] ?? '')?.[1];
  const commit = labels['org.opencontainers.image.revision']?.slice(0, 7);
  if (!build && !commit) return undefined;
  return [build && `build ${build}`, commit && (build ? `(commit ${commit})` : `commit ${commit}`)].filter(Boolean).join(' ');
}

/**
 * Gives the reused image every name the build would have pushed (the same manifest, so the
 * same digest, platforms and attestations), then pulls it into the engine when the job
 * loads. Returns a warning when it could not, and the job builds instead.
 */
export async function tagReused(
  skip: SkipPlan,
  found: Reusable,
  load: { loads: boolean; platforms: string[] },
  access: RegistryAccess,
  runtime: Runtime,
): Promise<string | undefined> {
  const { loads, platforms } = load;
  for (const name of skip.names) {
    try {
      await putManifest(found.manifest, name, access);
      log.info(`buildkit: tagged ${name}`);
    } catch (error) {
      if (isAbort(error)) throw error;
      return `skip-unchanged: could not tag the reused image as ${name} (${messageOf(error)}); building`;
    }
  }
  if (!loads) return undefined;
  // docker pull takes the engine's own platform unless told; a build for one other platform loads that one.
  const platform = platforms.length === 1 ? ['--platform', platforms[0] as string] : [];
  for (const name of skip.names) {
    const pulled = await runtime.exec(['docker', 'pull', '--quiet', ...platform, name], { env: access.env });
    if (pulled.code !== 0) return `skip-unchanged: could not pull the reused image ${name} into the engine (exit ${pulled.code}); building`;
  }
  return undefined;
}

/** A cancelled job ends; any other failure (a registry's, or one of this code's) only means the job builds. */
function isAbort(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

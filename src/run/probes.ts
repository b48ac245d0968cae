import { ImageStore } from '../plan/builder';
import { parseBuildkitVersion, parseBuildxVersion } from '../plan/version-gates';
import { exec } from './exec';

/** The engine's image store: containerd (`io.containerd.snapshotter`) or the classic one. */
export async function probeImageStore(env: NodeJS.ProcessEnv): Promise<ImageStore | undefined> {
  const { code, stdout } = await exec(['docker', 'info', '--format', '{{json .DriverStatus}}'], { env, capture: true, timeoutMs: 20_000 });
  if (code !== 0) return undefined;
  return stdout.includes('io.containerd.snapshotter') ? 'containerd' : 'classic';
}

export async function probeBuildxVersion(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const { code, stdout } = await exec(['docker', 'buildx', 'version'], { env, capture: true, timeoutMs: 20_000 });
  return code === 0 ? parseBuildxVersion(stdout) : undefined;
}

/** The BuildKit version of the builder the build will use (the engine's own by default). */
export async function probeBuildkitVersion(env: NodeJS.ProcessEnv, builder?: string): Promise<string | undefined> {
  const { code, stdout } = await exec(['docker', 'buildx', 'inspect', ...(builder ? [builder] : [])], { env, capture: true, timeoutMs: 20_000 });
  return code === 0 ? parseBuildkitVersion(stdout) : undefined;
}

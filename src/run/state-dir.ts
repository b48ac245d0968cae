import { lstatSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Env = Record<string, string | undefined>;

/**
 * The job's private state directory. Derived from the job id, so pre-exit finds it even
 * when an earlier hook failed before exporting BUILDKIT_PLUGIN_STATE_DIR.
 */
export function stateDirPath(env: Env): string {
  if (env.BUILDKIT_PLUGIN_STATE_DIR) return env.BUILDKIT_PLUGIN_STATE_DIR;
  const root = join(env.TMPDIR || tmpdir(), `buildkite-plugin-buildkit-${process.getuid?.() ?? 0}`);
  const job = (env.BUILDKITE_JOB_ID || 'no-job-id').replace(/[^\w.-]/g, '_');
  return join(root, job);
}

/** Creates the directory 0700 under a per-user root that must be ours and not a link. */
export function createStateDir(dir: string): void {
  const root = join(dir, '..');
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const stat = lstatSync(root);
  if (!stat.isDirectory() || stat.uid !== process.getuid?.() || (stat.mode & 0o077) !== 0) {
    throw new Error(`${root} must be a directory owned by this user with mode 0700`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** Removes the state dir; a path that is not one of ours (a bad export) is left alone. */
export function removeStateDir(dir: string): void {
  if (!/\/buildkite-plugin-buildkit-[^/]+\/[^/]+\/?$/.test(dir)) {
    throw new Error(`refusing to remove ${dir}: not a buildkit plugin state directory`);
  }
  rmSync(dir, { recursive: true, force: true });
}

import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { LocalCache, currentGeneration, currentLink } from '../plan/cache-plan';
import { registerCleanup } from './cleanup';

/**
 * The local cache directory's life in a job: lease the generation the build reads, then
 * make the build's export the current generation (under a lock, with an atomic rename of the
 * `current` symlink), and prune generations nobody reads any more.
 */

const lockStaleMs = 10 * 60_000;
const lockWaitMs = 60_000;
/** A lease older than this belongs to a job that died without pre-exit. */
const leaseStaleMs = 12 * 3600_000;

/** Before the build: this job reads `generation`; pre-exit removes the lease and an unfinished export. */
export function leaseLocalCache(local: LocalCache, stateDir: string): void {
  mkdirSync(dirname(local.lease), { recursive: true });
  writeFileSync(local.lease, local.generation ?? '');
  registerCleanup(stateDir, { argv: ['rm', '-rf', '--', local.incoming, local.lease], title: 'removing the unfinished local cache export' });
}

/** After the build: keeps a successful export as the current generation; returns warnings. */
/** `now` names the new generation (generations sort by it). */
export async function finishLocalCache(local: LocalCache, succeeded: boolean, sleep: (ms: number) => Promise<void>, now = Date.now()): Promise<string[]> {
  const warnings: string[] = [];
  const complete = succeeded && existsSync(join(local.incoming, 'index.json'));
  const size = complete ? directorySize(local.incoming) : 0;
  if (complete && size > local.maxBytes) {
    warnings.push(`cache: this build's cache (${gib(size)}) is larger than cache.max-size (${gib(local.maxBytes)}), so it is not kept; raise max-size`);
  }
  const keep = complete && size <= local.maxBytes;
  await withLock(local.root, sleep, () => {
    if (keep) promote(local, now);
    rmSync(local.incoming, { recursive: true, force: true });
    rmSync(local.lease, { force: true });
    prune(local.root);
  });
  return warnings;
}

function promote(local: LocalCache, now: number): void {
  const job = basename(local.incoming).replace(/^\.incoming-/, '');
  const generation = `gen-${now}-${job}`;
  renameSync(local.incoming, join(local.root, generation));
  const link = join(local.root, `.current-${job}`);
  rmSync(link, { force: true });
  symlinkSync(generation, link);
  // rename(2) replaces the symlink at once: a job that reads `current` sees the old or the new one.
  renameSync(link, join(local.root, currentLink));
}

/** Removes every generation that is neither current nor leased by a running job. */
function prune(root: string): void {
  const keep = new Set([currentGeneration(root)]);
  const leases = join(root, 'leases');
  for (const name of existsSync(leases) ? readdirSync(leases) : []) {
    const file = join(leases, name);
    if (Date.now() - statSync(file).mtimeMs > leaseStaleMs) rmSync(file, { force: true });
    else keep.add(readFileSync(file, 'utf8'));
  }
  for (const name of readdirSync(root)) {
    if (name.startsWith('gen-') && !keep.has(name)) rmSync(join(root, name), { recursive: true, force: true });
  }
}

/** A lock directory: other jobs on the host wait for it; one left by a killed job goes stale. */
async function withLock(root: string, sleep: (ms: number) => Promise<void>, body: () => void): Promise<void> {
  const lock = join(root, '.lock');
  for (let waited = 0; ; waited += 100) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (Date.now() - statSync(lock).mtimeMs > lockStaleMs) rmSync(lock, { recursive: true, force: true });
      else if (waited >= lockWaitMs) throw new Error(`the local cache lock ${lock} is held by another job for over ${lockWaitMs / 1000} s`);
      else await sleep(100);
    }
  }
  try {
    body();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function directorySize(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? directorySize(path) : lstatSync(path).size;
  }
  return total;
}

const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(2)} GiB`;

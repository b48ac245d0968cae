import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { LocalCache, currentGeneration, currentLink } from '../plan/cache-plan';
import { registerCleanup } from './cleanup';

/**
 * The local cache directory's life in a job: lease the generation the build reads, then
 * make the build's export the current generation (under a lock, with an atomic rename of the
 * `current` symlink), and prune what nobody reads any more. A cache that cannot be kept is a
 * warning: it never fails the build.
 */

const lockStaleMs = 2 * 60_000;
const lockWaitMs = 60_000;
/** A lease, export or link older than this belongs to a job that died without pre-exit. */
const leftoverMs = 12 * 3600_000;

type Sleep = (ms: number) => Promise<void>;

/** Before the build: links `reading` to the current generation and leases it; pre-exit undoes both. Returns warnings. */
export async function leaseLocalCache(local: LocalCache, stateDir: string, sleep: Sleep): Promise<string[]> {
  const files = [local.incoming, local.reading, local.lease];
  registerCleanup(stateDir, { argv: ['rm', '-rf', '--', ...files], title: 'removing the unfinished local cache export' });
  return warnOnFailure('cannot read the local cache', async () => {
    mkdirSync(join(local.root, 'leases'), { recursive: true });
    await withLock(local.root, sleep, () => {
      const generation = currentGeneration(local.root);
      if (!generation) return;
      rmSync(local.reading, { force: true });
      symlinkSync(generation, local.reading);
      writeAtomically(local.lease, generation);
    });
  });
}

/** After the build: keeps a successful export as the current generation; returns warnings. `now` names it. */
export async function finishLocalCache(local: LocalCache, succeeded: boolean, sleep: Sleep, now = Date.now()): Promise<string[]> {
  return warnOnFailure('the local cache was not saved', async () => {
    const complete = succeeded && existsSync(join(local.incoming, 'index.json'));
    const size = complete ? directorySize(local.incoming) : 0;
    const tooBig = complete && size > local.maxBytes;
    await withLock(local.root, sleep, () => {
      if (complete && !tooBig) promote(local, now);
      for (const path of [local.incoming, local.reading, local.lease]) rmSync(path, { recursive: true, force: true });
      prune(local.root);
    });
    if (tooBig)
      throw new Error(`this build's cache (${size} bytes) is larger than cache.max-size (${local.maxBytes} bytes), so it is not kept; raise max-size`);
  });
}

async function warnOnFailure(what: string, body: () => Promise<void>): Promise<string[]> {
  try {
    await body();
    return [];
  } catch (error) {
    return [`cache: ${what}: ${(error as Error).message}; the build goes on`];
  }
}

function writeAtomically(file: string, text: string): void {
  const temp = `${file}.tmp`;
  writeFileSync(temp, text);
  renameSync(temp, file);
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

/** Removes generations neither current nor leased, and what jobs killed long ago left (exports, links, leases). */
function prune(root: string): void {
  const keep = new Set([currentGeneration(root)]);
  const leases = join(root, 'leases');
  for (const name of existsSync(leases) ? readdirSync(leases) : []) {
    const file = join(leases, name);
    if (isLeftover(file)) rmSync(file, { force: true });
    else keep.add(readText(file));
  }
  for (const name of readdirSync(root)) {
    const path = join(root, name);
    if ((name.startsWith('gen-') && !keep.has(name)) || (/^\.(incoming|reading)-/.test(name) && isLeftover(path))) {
      rmSync(path, { recursive: true, force: true });
    }
  }
}

/** Older than a job can run; a file already gone counts as gone. */
function isLeftover(path: string): boolean {
  try {
    return Date.now() - lstatSync(path).mtimeMs > leftoverMs;
  } catch {
    return false;
  }
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** A lock directory: other jobs on the host wait for it; one left by a killed job goes stale. */
async function withLock(root: string, sleep: Sleep, body: () => void): Promise<void> {
  const lock = join(root, '.lock');
  for (let waited = 0; ; waited += 100) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (lockAge(lock) > lockStaleMs) rmSync(lock, { recursive: true, force: true });
      else if (waited >= lockWaitMs) throw new Error(`the lock ${lock} is held by another job for over ${lockWaitMs / 1000} s`);
      else await sleep(100);
    }
  }
  try {
    body();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** How long the lock has been held; 0 when it was released meanwhile. */
function lockAge(lock: string): number {
  try {
    return Date.now() - lstatSync(lock).mtimeMs;
  } catch {
    return 0;
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

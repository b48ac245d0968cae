import { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

export type EntryKind = 'file' | 'dir' | 'symlink';

/** An entry the walk keeps: its path relative to the root, `/`-separated. */
export interface Found {
  path: string;
  kind: EntryKind;
}

/** What to do with one entry. `state` is handed to the entries of a directory walked into. */
export interface Visit<S> {
  keep: boolean;
  descend: boolean;
  state: S;
  /** A directory walked into but not kept: kept after all when something beneath it is. */
  keepAsParent?: boolean;
  /** A directory walked into that may be unreadable: read as empty then. */
  unreadableOk?: boolean;
}

export type Visitor<S> = (path: string, kind: EntryKind, parent: S) => Visit<S>;

/** Directories read and files hashed at once. */
export const concurrency = 16;

interface Pending<S> {
  path: string;
  state: S;
  unreadableOk: boolean;
}

/**
 * The entries under `root` the visitor keeps, never following a symlink, in no
 * particular order. Sockets, FIFOs and devices are left out.
 */
export async function walk<S>(root: string, state: S, visit: Visitor<S>, signal?: AbortSignal): Promise<Found[]> {
  const kept: Found[] = [];
  const unkeptDirs = new Set<string>();
  let level: Array<Pending<S>> = [{ path: '', state, unreadableOk: false }];
  while (level.length > 0) {
    const listings = await mapLimit(level, concurrency, (dir) => list(root, dir, signal));
    const next: Array<Pending<S>> = [];
    listings.forEach((entries, index) => {
      const parent = level[index] as Pending<S>;
      for (const entry of entries) {
        const kind = kindOf(entry);
        if (kind === undefined) continue;
        const path = parent.path === '' ? entry.name : `${parent.path}/${entry.name}`;
        const result = visit(path, kind, parent.state);
        if (result.keep) kept.push({ path, kind });
        if (kind !== 'dir' || !result.descend) continue;
        next.push({ path, state: result.state, unreadableOk: result.unreadableOk ?? false });
        if (!result.keep && result.keepAsParent) unkeptDirs.add(path);
      }
    });
    level = next;
  }
  return [...kept, ...parentsOfKept(kept, unkeptDirs)];
}

async function list<S>(root: string, dir: Pending<S>, signal?: AbortSignal): Promise<Dirent[]> {
  signal?.throwIfAborted();
  try {
    return await readdir(join(root, dir.path), { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Gone since its parent was read: BuildKit's walker passes over it too.
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    if (dir.unreadableOk && (code === 'EACCES' || code === 'EPERM')) return [];
    throw readError(root, dir.path, error as NodeJS.ErrnoException);
  }
}

function kindOf(entry: Dirent): EntryKind | undefined {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'dir';
  if (entry.isSymbolicLink()) return 'symlink';
  return undefined;
}

function parentsOfKept(kept: Found[], unkeptDirs: Set<string>): Found[] {
  const parents: Found[] = [];
  for (const { path } of kept) {
    for (let parent = dirname(path); unkeptDirs.delete(parent); parent = dirname(parent)) parents.push({ path: parent, kind: 'dir' });
  }
  return parents;
}

const dirname = (path: string) => path.slice(0, Math.max(path.lastIndexOf('/'), 0));

/** An error naming the entry that could not be read, relative to the tree. */
export function readError(root: string, path: string, error: NodeJS.ErrnoException): Error {
  return new Error(`cannot read ${path === '' ? '.' : path} in ${root} (${error.code ?? error.message})`, { cause: error });
}

/**
 * `fn` over `items`, `limit` at a time, results in order; `worker` (below `limit`) lets each
 * worker reuse its own buffers. After a failure no new item starts; the first error is
 * thrown once the running ones end, so nothing is left reading.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, worker: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const work = async (worker: number) => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index] as T, worker);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, (_, worker) => work(worker)));
  if (failure !== undefined) throw failure.error;
  return results;
}

import { createHash } from 'node:crypto';
import { Stats, constants } from 'node:fs';
import { lstat, open, readlink, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import picomatch from 'picomatch';
import { dockerignoreOf, dockerignoreVisitor } from './dockerignore';
import { Found, Visitor, concurrency, mapLimit, readError, walk } from './walk';

/**
 * The files a build reads, as one sha256: the same on every agent and fresh checkout of the
 * same tree. What counts: each entry's path and type, a file's content and executable bit, a
 * symlink's text, directories (empty ones are copied too). Not mtimes, owners, inodes or the
 * rest of the mode, which differ between checkouts (umask).
 */

export type TreeFilter =
  /** What BuildKit sends as the context: `<dockerfile>.dockerignore` or `<dir>/.dockerignore` applied. `dockerfile` (absolute) defaults to `<dir>/Dockerfile`. */
  | { kind: 'dockerignore'; dockerfile?: string }
  /** The files (not directories) matching a glob relative to `dir` and no `!` glob; `.git` only when a glob names it. */
  | { kind: 'globs'; globs: string[] }
  /** Everything under `dir` (a named build context). */
  | { kind: 'all' };

export interface TreeDigest {
  /** sha256 hex. */
  digest: string;
  files: number;
  bytes: number;
  /** The included tree has a .git directory (differs between checkouts: the key will never match). */
  includesGit: boolean;
}

export interface TreeEntry {
  /** Relative to the tree, `/`-separated. */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  executable?: boolean;
  /** A symlink's text (never followed). */
  target?: string;
  size?: number;
}

/** Entries in a stable order (sorted by path, byte-wise). */
export async function listTree(dir: string, filter: TreeFilter, signal?: AbortSignal): Promise<TreeEntry[]> {
  const root = await treeRoot(dir);
  const found = await select(root, filter, signal);
  return mapLimit(found, concurrency, (entry) => describe(root, entry));
}

export async function digestTree(dir: string, filter: TreeFilter, signal?: AbortSignal): Promise<TreeDigest> {
  const root = await treeRoot(dir);
  const found = await select(root, filter, signal);
  const buffers: Buffer[] = [];
  const records = await mapLimit(found, concurrency, (entry, worker) => record(root, entry, (buffers[worker] ??= Buffer.allocUnsafe(chunkSize)), signal));
  const hash = createHash('sha256').update(formatVersion);
  let files = 0;
  let bytes = 0;
  for (const { data, size } of records) {
    hash.update(data);
    if (size === undefined) continue;
    files += 1;
    bytes += size;
  }
  return { digest: hash.digest('hex'), files, bytes, includesGit: found.some(isInGit) };
}

/** Changing how entries are encoded must change every digest. */
const formatVersion = 'tree-digest v1\0';
const chunkSize = 256 * 1024;

async function treeRoot(dir: string): Promise<string> {
  const root = resolve(dir);
  const stats = await stat(root).catch((error: NodeJS.ErrnoException) => {
    throw new Error(error.code === 'ENOENT' ? `the directory ${root} does not exist` : `cannot read the directory ${root} (${error.code})`, { cause: error });
  });
  if (!stats.isDirectory()) throw new Error(`${root} is not a directory`);
  return root;
}

async function select(root: string, filter: TreeFilter, signal?: AbortSignal): Promise<Found[]> {
  switch (filter.kind) {
    case 'dockerignore': {
      const { file, patterns } = await dockerignoreOf(root, filter.dockerfile === undefined ? undefined : resolve(filter.dockerfile));
      return byPath(await walk(root, undefined, dockerignoreVisitor(patterns, file), signal));
    }
    case 'globs':
      return byPath(await walk(root, undefined, globVisitor(filter.globs), signal));
    case 'all':
      return byPath(await walk(root, undefined, (_, kind) => ({ keep: true, descend: kind === 'dir', state: undefined }), signal));
  }
}

function byPath(entries: Found[]): Found[] {
  return entries
    .map((entry) => ({ entry, key: Buffer.from(entry.path) }))
    .sort((a, b) => Buffer.compare(a.key, b.key))
    .map(({ entry }) => entry);
}

/**
 * Walks only the static bases of the positive globs (`src` of `src/**\/*.ts`) and the
 * directories above them, never into `.git` unless a glob names it nor into what a `!x/**`
 * drops. Dotfiles match `*` and `**`: a file the build reads must not be missed. A glob
 * without wildcards naming a directory means everything in it.
 */
function globVisitor(globs: string[]): Visitor<undefined> {
  const positive = globs.filter((glob) => !glob.startsWith('!')).flatMap((glob) => asPicomatch(glob, glob));
  const negative = globs.filter((glob) => glob.startsWith('!')).flatMap((glob) => asPicomatch(glob.slice(1), glob));
  const selected = matcher(positive);
  const dropped = matcher(negative);
  const droppedDirs = matcher(negative.filter((glob) => glob.endsWith('/**')).map((glob) => glob.slice(0, -3)));
  const bases = positive.map((glob) => picomatch.scan(glob).base.replace(/\/$/, ''));
  const skipGit = !positive.some((glob) => glob.split('/').includes('.git'));
  const nearBase = (dir: string) => bases.some((base) => base === '' || `${dir}/`.startsWith(`${base}/`) || base.startsWith(`${dir}/`));
  return (path, kind) => {
    if (kind !== 'dir') return { keep: selected(path) && !dropped(path), descend: false, state: undefined };
    const git = skipGit && (path === '.git' || path.endsWith('/.git'));
    return { keep: false, descend: !git && nearBase(path) && !droppedDirs(path), state: undefined };
  };
}

function matcher(globs: string[]): (path: string) => boolean {
  return globs.length === 0 ? () => false : picomatch(globs, { dot: true });
}

function asPicomatch(glob: string, given: string): string[] {
  const relative = glob.replace(/^(\.\/)+/, '').replace(/(.)\/$/, '$1');
  if (relative.startsWith('/') || relative.split('/').includes('..')) throw new Error(`the glob ${given} reaches outside the directory`);
  return picomatch.scan(relative).isGlob ? [relative] : [relative, `${relative}/**`];
}

/** Whether an entry is, or is in, a `.git` directory. */
function isInGit({ path, kind }: Found): boolean {
  const parts = path.split('/');
  const at = parts.indexOf('.git');
  return at >= 0 && (at < parts.length - 1 || kind === 'dir');
}

async function describe(root: string, { path, kind }: Found): Promise<TreeEntry> {
  const at = join(root, path);
  if (kind === 'dir') return { path, type: 'dir' };
  if (kind === 'symlink') return { path, type: 'symlink', target: await readlink(at).catch(rethrowFor(root, path)) };
  const stats = await lstat(at).catch(rethrowFor(root, path));
  return { path, type: 'file', executable: isExecutable(stats), size: stats.size };
}

/** One entry's bytes in the digest; each variable field is length-prefixed, so no two trees encode alike. */
async function record(root: string, { path, kind }: Found, buffer: Buffer, signal?: AbortSignal): Promise<{ data: Buffer; size?: number }> {
  signal?.throwIfAborted();
  if (kind === 'dir') return { data: Buffer.concat([Buffer.from('d'), field(path)]) };
  if (kind === 'symlink')
    return { data: Buffer.concat([Buffer.from('l'), field(path), field(await readlink(join(root, path), 'buffer').catch(rethrowFor(root, path)))]) };
  const file = await hashFile(root, path, buffer, signal);
  return { data: Buffer.concat([Buffer.from('f'), field(path), Buffer.from([file.executable ? 1 : 0]), file.sha256]), size: file.size };
}

function field(value: string | Buffer): Buffer {
  const bytes = Buffer.from(value);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

async function hashFile(root: string, path: string, buffer: Buffer, signal?: AbortSignal): Promise<{ sha256: Buffer; size: number; executable: boolean }> {
  // O_NOFOLLOW and O_NONBLOCK: a file swapped for a symlink or a FIFO since the walk fails rather than being followed or blocking.
  const handle = await open(join(root, path), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(rethrowFor(root, path));
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new Error(`${path} in ${root} is no longer a file`);
    const hash = createHash('sha256');
    let size = 0;
    let bytesRead: number;
    // A short read of a regular file is its end: one read fewer for most files.
    do {
      signal?.throwIfAborted();
      ({ bytesRead } = await handle.read(buffer, 0, buffer.length, null));
      hash.update(buffer.subarray(0, bytesRead));
      size += bytesRead;
    } while (bytesRead === buffer.length);
    return { sha256: hash.digest(), size, executable: isExecutable(stats) };
  } catch (error) {
    throw (error as NodeJS.ErrnoException).syscall === undefined ? error : readError(root, path, error as NodeJS.ErrnoException);
  } finally {
    await handle.close();
  }
}

/** Only the owner's bit: agents' umasks differ in the group and other bits. */
function isExecutable(stats: Stats): boolean {
  return (stats.mode & 0o100) !== 0;
}

function rethrowFor(root: string, path: string): (error: NodeJS.ErrnoException) => never {
  return (error) => {
    throw readError(root, path, error);
  };
}

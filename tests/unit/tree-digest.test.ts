// `promises` is the very object src/ imports from node:fs/promises, so spying on it reaches src/.
import { chmodSync, lutimesSync, mkdirSync, promises as fsPromises, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { PatternMatcher, cleanPath, parseDockerignore } from '../../src/inputs/dockerignore';
import { TreeFilter, digestTree, listTree } from '../../src/inputs/tree-digest';
import { scratchDir } from '../support/scratch';

/** A path's content: text (a 0644 file), a file with a mode, a symlink's text, or an empty directory. */
type Node = string | { file: string | Buffer; mode: number } | { link: string } | { dir: true };
type Spec = Record<string, Node>;

function writeTree(spec: Spec, options: { reverse?: boolean; looseModes?: boolean; mtime?: number } = {}): string {
  const root = scratchDir('tree-digest-');
  const paths = Object.keys(spec);
  for (const path of options.reverse ? paths.reverse() : paths) {
    const node = spec[path] as Node;
    const at = join(root, path);
    mkdirSync(dirname(at), { recursive: true, mode: options.looseModes ? 0o777 : 0o755 });
    if (typeof node === 'object' && 'link' in node) symlinkSync(node.link, at);
    else if (typeof node === 'object' && 'dir' in node) mkdirSync(at, { recursive: true });
    else {
      const [text, mode] = typeof node === 'string' ? [node, 0o644] : [node.file, node.mode];
      writeFileSync(at, text);
      // A looser umask: group and other may write.
      chmodSync(at, options.looseModes ? mode | 0o022 : mode);
    }
    if (options.mtime !== undefined) lutimesSync(at, options.mtime, options.mtime);
  }
  return root;
}

const paths = async (root: string, filter: TreeFilter) => (await listTree(root, filter)).map((entry) => entry.path);
const dockerignore: TreeFilter = { kind: 'dockerignore' };
const all: TreeFilter = { kind: 'all' };

const app: Spec = {
  Dockerfile: 'FROM scratch\nCOPY . /\n',
  '.dockerignore': 'node_modules\n*.log\n',
  'src/main.c': 'int main() { return 0; }\n',
  'src/lib/util.c': 'int util;\n',
  'bin/run': { file: '#!/bin/sh\nexec app\n', mode: 0o755 },
  'link-to-src': { link: 'src/main.c' },
  empty: { dir: true },
  'node_modules/dep/index.js': 'module.exports = 1;\n',
  'debug.log': 'noise\n',
};

describe('digestTree is the same for the same tree', () => {
  test('built in another order, at other times, with other group/other write bits', async () => {
    const first = writeTree(app, { mtime: 1_000_000 });
    const second = writeTree(app, { reverse: true, looseModes: true, mtime: 2_000_000 });
    for (const filter of [dockerignore, all, { kind: 'globs', globs: ['src/**', 'bin/*'] } as TreeFilter]) {
      const [a, b] = [await digestTree(first, filter), await digestTree(second, filter)];
      expect(a.digest).toMatch(/^[0-9a-f]{64}$/);
      expect(b).toEqual(a);
    }
    expect(await digestTree(first, dockerignore)).toMatchObject({ files: 5, bytes: 95, includesGit: false });
  });

  test('listTree: the entries with what the digest reads, sorted byte-wise (not by UTF-16 unit, not walk order)', async () => {
    const root = writeTree({
      'a/b': 'x',
      'a-b': 'xy',
      'a.txt': 'xyz',
      B: '',
      '\u{1F600}': '',
      '\uFF21': '',
      x: { file: '', mode: 0o700 },
      s: { link: '../out' },
    });
    expect(await listTree(root, all)).toEqual([
      { path: 'B', type: 'file', executable: false, size: 0 },
      { path: 'a', type: 'dir' },
      { path: 'a-b', type: 'file', executable: false, size: 2 },
      { path: 'a.txt', type: 'file', executable: false, size: 3 },
      { path: 'a/b', type: 'file', executable: false, size: 1 },
      { path: 's', type: 'symlink', target: '../out' },
      { path: 'x', type: 'file', executable: true, size: 0 },
      { path: '\uFF21', type: 'file', executable: false, size: 0 },
      { path: '\u{1F600}', type: 'file', executable: false, size: 0 },
    ]);
  });
});

describe('the encoding', () => {
  test('a version, then each entry: its type, its length-prefixed path, a file its exec bit and content sha256, a symlink its text', async () => {
    // Files across the 256 KiB read size: one more byte, exactly one read, and none.
    const big = Buffer.from(Array.from({ length: 2 * 262_144 + 7 }, (_, i) => i % 251));
    const exact = big.subarray(0, 262_144);
    const root = writeTree({
      'd/big': { file: big, mode: 0o644 },
      'd/exact': { file: exact, mode: 0o644 },
      e: { dir: true },
      l: { link: 'd/big' },
      x: { file: '', mode: 0o755 },
    });
    const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest();
    const field = (text: string) => Buffer.concat([Buffer.from([0, 0, 0, Buffer.byteLength(text)]), Buffer.from(text)]);
    const file = (path: string, executable: boolean, content: Buffer | string) =>
      Buffer.concat([Buffer.from('f'), field(path), Buffer.from([executable ? 1 : 0]), sha256(content)]);
    const records = [
      Buffer.concat([Buffer.from('d'), field('d')]),
      file('d/big', false, big),
      file('d/exact', false, exact),
      Buffer.concat([Buffer.from('d'), field('e')]),
      Buffer.concat([Buffer.from('l'), field('l'), field('d/big')]),
      file('x', true, ''),
    ];
    const expected = sha256(Buffer.concat([Buffer.from('tree-digest v1\0'), ...records])).toString('hex');
    expect(await digestTree(root, all)).toEqual({ digest: expected, files: 3, bytes: big.length + exact.length, includesGit: false });
  });
});

describe('what changes the digest', () => {
  const changes: Array<[string, (root: string) => void]> = [
    ['content (same length)', (root) => writeFileSync(join(root, 'src/main.c'), 'int main() { return 1; }\n')],
    ['a new file', (root) => writeFileSync(join(root, 'src/new.c'), '')],
    ['a new empty directory', (root) => mkdirSync(join(root, 'src/empty'))],
    ['a rename', (root) => renameSync(join(root, 'src/lib/util.c'), join(root, 'src/lib/utils.c'))],
    ['a moved file', (root) => renameSync(join(root, 'src/lib/util.c'), join(root, 'src/util.c'))],
    ['the executable bit', (root) => chmodSync(join(root, 'src/main.c'), 0o744)],
    ['a symlink target', (root) => replace(root, 'link-to-src', () => symlinkSync('src/lib/util.c', join(root, 'link-to-src')))],
    ['a symlink becoming a file holding its text', (root) => replace(root, 'link-to-src', () => writeFileSync(join(root, 'link-to-src'), 'src/main.c'))],
    ['an empty directory becoming an empty file', (root) => replace(root, 'empty', () => writeFileSync(join(root, 'empty'), ''))],
    ['a file no longer ignored', (root) => writeFileSync(join(root, '.dockerignore'), 'node_modules\n')],
  ];

  test.each(changes)('%s', async (_, change) => {
    const [before, after] = [writeTree(app), writeTree(app)];
    change(after);
    expect((await digestTree(after, dockerignore)).digest).not.toBe((await digestTree(before, dockerignore)).digest);
  });

  test('fields are delimited: a symlink a → bc and a symlink ab → c differ', async () => {
    const [one, two] = [writeTree({ a: { link: 'bc' } }), writeTree({ ab: { link: 'c' } })];
    expect((await digestTree(one, all)).digest).not.toBe((await digestTree(two, all)).digest);
  });
});

describe('what does not change the digest', () => {
  const noChanges: Array<[string, TreeFilter, (root: string) => void]> = [
    ['an mtime', dockerignore, (root) => utimesSync(join(root, 'src/main.c'), 5, 5)],
    ['group and other write bits', dockerignore, (root) => [join(root, 'bin/run'), join(root, 'src')].forEach((path) => chmodSync(path, 0o777))],
    ['an ignored file', dockerignore, (root) => ['node_modules/dep/new.js', 'x.log'].forEach((path) => writeFileSync(join(root, path), ''))],
    ['a file outside the globs', { kind: 'globs', globs: ['src/**'] }, (root) => writeFileSync(join(root, 'bin/run'), 'changed')],
  ];

  test.each(noChanges)('%s', async (_, filter, change) => {
    const [before, after] = [writeTree(app), writeTree(app)];
    change(after);
    expect(await digestTree(after, filter)).toEqual(await digestTree(before, filter));
  });
});

describe('dockerignore: what BuildKit sends', () => {
  test('the files, the directories kept, and what .dockerignore leaves out', async () => {
    expect(await paths(writeTree(app), dockerignore)).toEqual([
      '.dockerignore',
      'Dockerfile',
      'bin',
      'bin/run',
      'empty',
      'link-to-src',
      'src',
      'src/lib',
      'src/lib/util.c',
      'src/main.c',
    ]);
  });

  test('* matches within one level; ** any number; x/** keeps the directory x itself; **x is a suffix', async () => {
    const root = writeTree({
      '.dockerignore': '*.md\n**/*.tmp\ncache/**\n**.bak\n',
      'a.md': '',
      'docs/b.md': '',
      'a.tmp': '',
      'deep/er/c.tmp': '',
      'cache/x/y': '',
      'one.bak': '',
      'd/two.bak': '',
      'd/keep': '',
    });
    expect(await paths(root, dockerignore)).toEqual(['.dockerignore', 'cache', 'd', 'd/keep', 'deep', 'deep/er', 'docs', 'docs/b.md']);
  });

  test('! exceptions re-include under an excluded directory, which is then sent as their parent only', async () => {
    const root = writeTree({
      '.dockerignore': 'logs\n!logs/keep/**\nvendor\n!vendor/**/*.go\n',
      'logs/keep/a': '',
      'logs/drop/b': '',
      'logs/c': '',
      'vendor/x/y.go': '',
      'vendor/x/y.c': '',
      'vendor/z/w.c': '',
      'vendor/empty': { dir: true },
    });
    expect(await paths(root, dockerignore)).toEqual(['.dockerignore', 'logs', 'logs/keep', 'logs/keep/a', 'vendor', 'vendor/x', 'vendor/x/y.go']);
  });

  test('a match is carried from the parent only for patterns evaluated there (patternmatcher, not a parent check)', async () => {
    // BuildKit sends a/c but not a/b: `!a` was not evaluated for `a` (nothing matched yet), so a/b does not inherit it.
    const root = writeTree({ '.dockerignore': 'a/b\n!a\n', 'a/b': '', 'a/c': '' });
    expect(await paths(root, dockerignore)).toEqual(['.dockerignore', 'a', 'a/c']);
  });

  test('* then ! exceptions; a leading / and ./ anchor nothing more; comments, blanks, CRLF, a BOM; case matters', async () => {
    const root = writeTree({
      '.dockerignore': '\uFEFF# comment\r\n*\r\n!src\r\n!/README.md\r\n  # not a comment\r\n\r\n!./Makefile \r\n/src/build\r\nsrc/*.O\r\n',
      'README.md': '',
      Makefile: '',
      LICENSE: '',
      'src/a.c': '',
      'src/a.O': '',
      'src/b.o': '',
      'src/build/x': '',
      'src/sub/build/y': '',
      '# not a comment': '',
    });
    expect(await paths(root, dockerignore)).toEqual(['Makefile', 'README.md', 'src', 'src/a.c', 'src/b.o', 'src/sub', 'src/sub/build', 'src/sub/build/y']);
  });

  test('<Dockerfile>.dockerignore next to the Dockerfile wins over the context .dockerignore, even when empty', async () => {
    const spec: Spec = { '.dockerignore': 'a\n', 'Dockerfile.dockerignore': 'b\n', 'build/app.Dockerfile.dockerignore': 'c\n', a: '', b: '', c: '' };
    const root = writeTree(spec);
    const only = async (filter: TreeFilter) => (await paths(root, filter)).filter((path) => path.length === 1);
    expect(await only({ kind: 'dockerignore', dockerfile: join(root, 'build/app.Dockerfile') })).toEqual(['a', 'b']);
    expect(await only({ kind: 'dockerignore', dockerfile: join(root, 'Dockerfile') })).toEqual(['a', 'c']);
    expect(await only(dockerignore)).toEqual(['a', 'c']);
    expect(await only({ kind: 'dockerignore', dockerfile: join(root, 'other/Dockerfile') })).toEqual(['b', 'c']);
    writeFileSync(join(root, 'Dockerfile.dockerignore'), '');
    expect(await only(dockerignore)).toEqual(['a', 'b', 'c']);
  });

  test('an excluded directory is not read when no exception could re-include something in it', async () => {
    const root = writeTree({ '.dockerignore': 'node_modules\n!src/keep\n', 'node_modules/a/b.js': '', 'src/keep': '', 'src/drop': '' });
    const read = readsDuring(() => paths(root, dockerignore));
    expect(await read.result).toEqual(['.dockerignore', 'src', 'src/drop', 'src/keep']);
    expect(read.dirs()).toEqual(['', 'src']);

    writeFileSync(join(root, '.dockerignore'), 'node_modules\n!**/*.md\n');
    const walked = readsDuring(() => paths(root, dockerignore));
    await walked.result;
    expect(walked.dirs()).toEqual(['', 'node_modules', 'node_modules/a', 'src']);
  });

  test('an unreadable excluded directory that has to be walked is passed over, as fsutil does', async () => {
    const root = writeTree({ '.dockerignore': 'data\n!**/*.md\n', 'data/db/x': '', 'a.md': '' });
    failFor('readdir', join(root, 'data/db'), 'EACCES');
    expect(await paths(root, dockerignore)).toEqual(['.dockerignore', 'a.md']);
    failFor('readdir', join(root, 'data/db'), 'EACCES');
    await expect(paths(root, all)).rejects.toThrow(`cannot read data/db in ${root} (EACCES)`);
  });
});

describe('dockerignore patterns (moby/patternmatcher)', () => {
  test('parsing: comments only in column 0, ! with spaces, Clean, a leading / dropped', () => {
    expect(parseDockerignore('# c\n #x\n! a/../b/\n/c//d/.\n/\n!/e\n**/\n')).toEqual(['#x', '!b', 'c/d', '/', '!e', '**']);
    expect(['a/b/../c', '../a', '/..', '', './', 'a//b/'].map(cleanPath)).toEqual(['a/c', '../a', '/', '.', '.', 'a/b']);
  });

  const cases: Array<[string, string, boolean]> = [
    ['a', 'a', true],
    ['a', 'b/a', false],
    ['a/*', 'a/b', true],
    ['*', 'a.b', true],
    ['*.c', 'd/x.c', false],
    ['**/*.c', 'x.c', true],
    ['**/*.c', 'd/e/x.c', true],
    ['d/**/x', 'd/x', true],
    ['d/**/x', 'd/e/f/x', true],
    ['foo**', 'foobar/x', true],
    ['foo/**', 'foo', false],
    ['**a', 'd/xa', true],
    ['**/a', 'xa', false],
    ['a?c', 'abc', true],
    ['a?c', 'a/c', false],
    ['[a-c]x', 'bx', true],
    ['[^a]x', 'ax', false],
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'axb', false],
    ['f(1)+{2}|$.txt', 'f(1)+{2}|$.txt', true],
    ['f(1).txt', 'f1.txt', false],
    ['ABC', 'abc', false],
  ];
  test.each(cases)('%s on %s → %s', (pattern, path, excluded) => {
    expect(new PatternMatcher([pattern]).matches(path, undefined).matched).toBe(excluded);
  });

  test('a bad pattern fails, naming it', async () => {
    expect(() => new PatternMatcher(['a\\'])).toThrow('bad pattern "a\\\\": it ends with a backslash');
    expect(() => new PatternMatcher(['!'])).toThrow('bad pattern "!"');
    const root = writeTree({ '.dockerignore': 'src/[a-\n', x: '' });
    await expect(paths(root, dockerignore)).rejects.toThrow(`${join(root, '.dockerignore')}: bad pattern "src/[a-"`);
  });
});

describe('globs', () => {
  const spec: Spec = {
    'package.json': '{}',
    'src/a.ts': '',
    'src/a.test.ts': '',
    'src/.env': '',
    'src/deep/b.ts': '',
    'src/deep/b.js': '',
    'src/empty': { dir: true },
    'docs/x/y.md': '',
    'node_modules/m/index.ts': '',
    '.git/HEAD': 'ref: refs/heads/main\n',
    'sub/.git/config': '',
  };

  test('files (not directories) matching a glob and no ! glob; dotfiles too; a directory named without wildcards means its files', async () => {
    const root = writeTree(spec);
    const filter: TreeFilter = { kind: 'globs', globs: ['src/**', './package.json', 'docs', '!src/**/*.test.ts', '!src/**/*.js'] };
    expect(await paths(root, filter)).toEqual(['docs/x/y.md', 'package.json', 'src/.env', 'src/a.ts', 'src/deep/b.ts']);
    expect((await digestTree(root, filter)).files).toBe(5);
  });

  test('only the static bases are walked, and not what a !x/** drops', async () => {
    const root = writeTree(spec);
    const bases = readsDuring(() => paths(root, { kind: 'globs', globs: ['src/deep/*.ts', 'package.json'] }));
    expect(await bases.result).toEqual(['package.json', 'src/deep/b.ts']);
    expect(bases.dirs()).toEqual(['', 'src', 'src/deep']);
    const dropped = readsDuring(() => paths(root, { kind: 'globs', globs: ['**/*.ts', '!node_modules/**', '!src'] }));
    expect(await dropped.result).toEqual([]);
    expect(dropped.dirs()).toEqual(['', 'docs', 'docs/x', 'sub']);
  });

  test('.git is left out unless a glob names it', async () => {
    const root = writeTree(spec);
    const everything = await digestTree(root, { kind: 'globs', globs: ['**'] });
    expect(everything).toMatchObject({ files: 8, includesGit: false });
    expect(await paths(root, { kind: 'globs', globs: ['**', '.git/HEAD'] })).toContain('.git/HEAD');
    expect(await digestTree(root, { kind: 'globs', globs: ['.git/HEAD'] })).toMatchObject({ files: 1, includesGit: true });
  });

  test('a glob reaching outside the directory fails', async () => {
    await expect(digestTree(writeTree(spec), { kind: 'globs', globs: ['../x/**'] })).rejects.toThrow('the glob ../x/** reaches outside the directory');
  });
});

describe('all, and .git', () => {
  test('all: everything, symlinks never followed', async () => {
    const root = writeTree({ 'a/b': '', 'to-a': { link: 'a' }, loop: { link: 'loop' }, '.git/HEAD': '' });
    expect(await paths(root, all)).toEqual(['.git', '.git/HEAD', 'a', 'a/b', 'loop', 'to-a']);
    expect(await digestTree(root, all)).toMatchObject({ files: 2, includesGit: true });
  });

  test('includesGit: a .git directory the context keeps; not once ignored, not a submodule .git file', async () => {
    const root = writeTree({ '.git/HEAD': '', 'mod/.git': 'gitdir: ../.git/modules/mod\n', a: '' });
    expect((await digestTree(root, dockerignore)).includesGit).toBe(true);
    writeFileSync(join(root, '.dockerignore'), '.git\n');
    expect((await digestTree(root, dockerignore)).includesGit).toBe(false);
    writeFileSync(join(root, '.dockerignore'), '.git\n!.git/HEAD\n');
    expect((await digestTree(root, dockerignore)).includesGit).toBe(true);
  });
});

describe('errors', () => {
  test('a missing directory, or a file instead', async () => {
    const root = writeTree({ f: '' });
    await expect(digestTree(join(root, 'nope'), all)).rejects.toThrow(`the directory ${join(root, 'nope')} does not exist`);
    await expect(listTree(join(root, 'f'), all)).rejects.toThrow(`${join(root, 'f')} is not a directory`);
  });

  test('an unreadable file, named', async () => {
    const root = writeTree({ 'src/secret': 'x', 'src/ok': 'y' });
    chmodSync(join(root, 'src/secret'), 0);
    // root reads a mode-0 file: make open fail as it would for the agent's user.
    if (process.getuid?.() === 0) failFor('open', join(root, 'src/secret'), 'EACCES');
    await expect(digestTree(root, all)).rejects.toThrow(`cannot read src/secret in ${root} (EACCES)`);
  });

  test('an aborted signal stops the walk and the hashing', async () => {
    const root = writeTree({ big: 'x'.repeat(8 << 20), small: '' });
    const controller = new AbortController();
    controller.abort();
    await expect(digestTree(root, all, controller.signal)).rejects.toThrow(expect.objectContaining({ name: 'AbortError' }));

    const midway = new AbortController();
    const reads = jest.spyOn(fsPromises, 'open');
    const digest = digestTree(root, all, midway.signal);
    await waitFor(() => reads.mock.calls.length > 0);
    midway.abort();
    await expect(digest).rejects.toThrow(expect.objectContaining({ name: 'AbortError' }));
  });
});

afterEach(() => jest.restoreAllMocks());

function replace(root: string, path: string, create: () => void): void {
  rmSync(join(root, path), { recursive: true });
  create();
}

/** Makes the next `fs/promises` `call` on `path` fail with `code`. */
function failFor(call: 'open' | 'readdir', path: string, code: string): void {
  const real = fsPromises[call] as (...args: unknown[]) => Promise<unknown>;
  const spy = jest.spyOn(fsPromises, call) as unknown as jest.SpyInstance<Promise<unknown>, unknown[]>;
  spy.mockImplementation((...args: unknown[]) => {
    if (args[0] !== path) return real(...args);
    spy.mockRestore();
    return Promise.reject(Object.assign(new Error(`${code}: ${call} '${path}'`), { code, syscall: call, path }));
  });
}

/** The directories read (relative to the tree, in order) while `run` runs. */
function readsDuring<T>(run: () => Promise<T>): { result: Promise<T>; dirs: () => string[] } {
  const spy = jest.spyOn(fsPromises, 'readdir');
  spy.mockClear();
  const result = run();
  return {
    result,
    dirs: () => {
      const roots = spy.mock.calls.map((call) => String(call[0]));
      const root = roots[0] as string;
      return roots.map((dir) => dir.slice(root.length + 1)).sort();
    },
  };
}

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

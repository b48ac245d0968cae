import { execFileSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TreeEntry, TreeFilter, listTree } from '../../src/inputs/tree-digest';
import { scratchDir, testRegistry } from './support';

// listTree(dir, { kind: 'dockerignore' }) against the real thing: each fixture is built with
// `FROM scratch` + `COPY . /` and exported with type=local, so the exported tree is exactly
// the context BuildKit received (buildx's fsutil walker, the frontend's choice of ignore file).
// What BuildKit does with the Dockerfile and .dockerignore themselves: they are ordinary
// context files, sent unless a pattern excludes them; excluding them does not break the build,
// which reads the Dockerfile (and <Dockerfile>.dockerignore) through a separate local source.

jest.setTimeout(120_000);
testRegistry();

type Node = string | { file: string; mode: number } | { link: string } | { dir: true };
type Spec = Record<string, Node>;

const dockerfile = 'FROM scratch\nCOPY . /\n';

function writeTree(spec: Spec): string {
  const root = scratchDir('context-files-');
  for (const [path, node] of Object.entries(spec)) {
    const at = join(root, path);
    mkdirSync(dirname(at), { recursive: true });
    if (typeof node === 'object' && 'link' in node) symlinkSync(node.link, at);
    else if (typeof node === 'object' && 'dir' in node) mkdirSync(at, { recursive: true });
    else {
      writeFileSync(at, typeof node === 'string' ? node : node.file);
      chmodSync(at, typeof node === 'string' ? 0o644 : node.mode);
    }
  }
  return root;
}

/** The context BuildKit received: built, exported and read back with a walker of this test's own. */
function sentByBuildKit(context: string, file?: string): TreeEntry[] {
  const out = scratchDir('context-files-out-');
  const args = ['buildx', 'build', '--network', 'none', '--progress', 'plain', '--output', `type=local,dest=${out}`, ...(file ? ['--file', file] : [])];
  execFileSync('docker', [...args, context], { stdio: ['ignore', 'pipe', 'pipe'] });
  return exported(out);
}

function exported(root: string, dir = ''): TreeEntry[] {
  const entries = readdirSync(join(root, dir)).flatMap((name): TreeEntry[] => {
    const path = dir === '' ? name : `${dir}/${name}`;
    const stats = lstatSync(join(root, path));
    if (stats.isSymbolicLink()) return [{ path, type: 'symlink', target: readlinkSync(join(root, path)) }];
    if (stats.isDirectory()) return [{ path, type: 'dir' }, ...exported(root, path)];
    return [{ path, type: 'file', executable: (stats.mode & 0o100) !== 0, size: stats.size }];
  });
  return entries.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
}

/** Checks listTree against BuildKit; returns what was sent, for the fixture's own checks. */
async function expectSameAsBuildKit(context: string, filter: TreeFilter & { kind: 'dockerignore' } = { kind: 'dockerignore' }): Promise<string[]> {
  const sent = sentByBuildKit(context, filter.dockerfile);
  expect(await listTree(context, filter)).toEqual(sent);
  // The fixture must leave something out, or it would not tell a filter from none.
  expect(sent.length).toBeLessThan((await listTree(context, { kind: 'all' })).length);
  return sent.map((entry) => entry.path);
}

test('nested ignores: anchored names, * and ** at any depth, x/** keeping x, **x suffixes, case, comments and spaces', async () => {
  const context = writeTree({
    Dockerfile: dockerfile,
    '.dockerignore':
      '# build output\n/build\n**/*.tmp\n*.log\ndocs/*.md\n**/cache/**\nnode_modules\nsrc/**/*.gen.c\n  spaced.txt  \n./dot-slash\n**.bak\nSecret.txt\n',
    'build/out.o': 'o',
    'src/build/keep.c': 'c',
    'a.tmp': '',
    'src/x/y.tmp': '',
    'top.log': '',
    'src/deep.log': 'kept: *.log is anchored',
    'docs/a.md': '',
    'docs/sub/b.md': 'b',
    'cache/c': '',
    'src/cache/d': '',
    'node_modules/m/i.js': '',
    'src/node_modules/n.js': 'n',
    'src/a.gen.c': '',
    'src/x/b.gen.c': '',
    'src/x/b.c': 'b',
    'spaced.txt': '',
    'dot-slash': '',
    'x.bak': '',
    'src/y.bak': '',
    'Secret.txt': '',
    'secret.txt': 's',
  });
  const sent = await expectSameAsBuildKit(context);
  expect(sent).toEqual(
    expect.arrayContaining(['cache', 'src/cache', 'src/build/keep.c', 'src/deep.log', 'docs/sub/b.md', 'src/node_modules/n.js', 'secret.txt']),
  );
  expect(sent).not.toContain('build');
});

test('exceptions: * then !, re-including beneath an excluded directory (as a parent only), wildcard exceptions, an inherited match', async () => {
  const star = writeTree({
    Dockerfile: dockerfile,
    '.dockerignore': '*\n!Dockerfile\n!src\nsrc/**/*.o\n!src/keep/*.o\n',
    'README.md': '',
    'src/a.c': '',
    'src/a.o': '',
    'src/keep/b.o': '',
    'src/deep/keep/c.o': '',
  });
  expect(await expectSameAsBuildKit(star)).toEqual(['Dockerfile', 'src', 'src/a.c', 'src/deep', 'src/deep/keep', 'src/keep', 'src/keep/b.o']);

  const nested = writeTree({
    Dockerfile: dockerfile,
    '.dockerignore': 'logs\n!logs/keep/**\nvendor\n!vendor/**/*.go\na/b\n!a\n',
    'logs/keep/a': 'a',
    'logs/drop/b': '',
    'logs/empty': { dir: true },
    'vendor/x/y.go': 'go',
    'vendor/x/y.c': '',
    'vendor/z/w.c': '',
    'a/b': '',
    'a/c': '',
  });
  const sent = await expectSameAsBuildKit(nested);
  expect(sent).toEqual(expect.arrayContaining(['logs', 'logs/keep', 'logs/keep/a', 'vendor/x/y.go', 'a/c']));
  expect(sent).not.toEqual(expect.arrayContaining(['logs/drop']));
  // patternmatcher's MatchesUsingParentResults: a/b stays excluded although `!a` matches its parent.
  expect(sent).not.toContain('a/b');
});

test('<Dockerfile>.dockerignore next to the Dockerfile wins over <context>/.dockerignore, even when empty', async () => {
  const context = writeTree({
    Dockerfile: dockerfile,
    '.dockerignore': 'a\n',
    'Dockerfile.dockerignore': 'b\n',
    'build/app.Dockerfile': dockerfile,
    'build/app.Dockerfile.dockerignore': 'c\n',
    a: 'a',
    b: 'b',
    c: 'c',
  });
  const top = (paths: string[]) => paths.filter((path) => path.length === 1);
  expect(top(await expectSameAsBuildKit(context, { kind: 'dockerignore', dockerfile: join(context, 'Dockerfile') }))).toEqual(['a', 'c']);
  expect(top(await expectSameAsBuildKit(context, { kind: 'dockerignore', dockerfile: join(context, 'build/app.Dockerfile') }))).toEqual(['a', 'b']);

  // A Dockerfile outside the context: its own .dockerignore, from its directory.
  const outside = join(writeTree({ 'df/app.Dockerfile': dockerfile, 'df/app.Dockerfile.dockerignore': 'b\n' }), 'df/app.Dockerfile');
  expect(top(await expectSameAsBuildKit(context, { kind: 'dockerignore', dockerfile: outside }))).toEqual(['a', 'c']);

  writeFileSync(join(context, 'Dockerfile.dockerignore'), '');
  writeFileSync(join(context, 'build/app.Dockerfile.dockerignore'), 'build\n');
  const sent = sentByBuildKit(context);
  expect(await listTree(context, { kind: 'dockerignore' })).toEqual(sent);
  expect(top(sent.map((entry) => entry.path))).toEqual(['a', 'b', 'c']);
});

test('symlinks (never followed), empty directories, executables, odd names', async () => {
  const context = writeTree({
    Dockerfile: dockerfile,
    '.dockerignore': 'excluded\nlinks/excluded-link\nhidden/**\n!hidden/keep-link\n',
    'bin/tool': { file: '#!/bin/sh\n', mode: 0o755 },
    'bin/data': { file: 'data', mode: 0o600 },
    'links/to-file': { link: '../bin/tool' },
    'links/to-dir': { link: '../bin' },
    'links/dangling': { link: 'nowhere' },
    'links/absolute': { link: '/etc/passwd' },
    'links/loop': { link: 'loop' },
    'links/excluded-link': { link: 'x' },
    'hidden/keep-link': { link: '../bin/data' },
    'hidden/drop': '',
    empty: { dir: true },
    'deep/er/est': { dir: true },
    'excluded/empty': { dir: true },
    'with space/ü ñ 😀.txt': 'unicode',
    '-dash': '',
    '.hidden': '',
  });
  const sent = await expectSameAsBuildKit(context);
  expect(sent).toEqual(expect.arrayContaining(['empty', 'deep/er/est', 'hidden', 'hidden/keep-link', 'links/to-dir', 'links/loop']));
  expect(sent).not.toContain('excluded');
});

test('the Dockerfile and .dockerignore are sent like any file, and not when they exclude themselves', async () => {
  const kept = writeTree({ Dockerfile: dockerfile, '.dockerignore': 'x\n', x: '', y: '' });
  expect(await expectSameAsBuildKit(kept)).toEqual(['.dockerignore', 'Dockerfile', 'y']);
  const excluded = writeTree({ Dockerfile: dockerfile, '.dockerignore': '.dockerignore\nDockerfile\n', y: '' });
  expect(await expectSameAsBuildKit(excluded)).toEqual(['y']);
});

test('known difference: BuildKit sends a FIFO; listTree leaves it out (it has nothing to hash)', async () => {
  const context = writeTree({ Dockerfile: dockerfile, f: '' });
  execFileSync('mkfifo', [join(context, 'fifo')]);
  expect(sentByBuildKit(context).map((entry) => entry.path)).toEqual(['Dockerfile', 'f', 'fifo']);
  expect((await listTree(context, { kind: 'dockerignore' })).map((entry) => entry.path)).toEqual(['Dockerfile', 'f']);
});

import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pluginEnv } from '../../src/cli/plugin-env';
import { ageSeconds } from '../../src/config/duration';
import { loadConfig } from '../../src/config/load-config';
import { planBuildRequest } from '../../src/plan/build-request';
import { planJob } from '../../src/plan/plan';
import { SkipPlan } from '../../src/plan/skip-plan';
import { buildAnnotation } from '../../src/report/annotation';
import { inputsKey, inputsKeyVersion, maxAgeWindow } from '../../src/run/inputs-key';
import { commandHook } from '../support/command-hook';
import { defined } from '../support/defined';
import { scratchDir } from '../support/scratch';

const image = 'registry.example.com/team/app';

function load(config: Record<string, unknown>, form: 'json' | 'flattened' = 'json') {
  return loadConfig({ PATH: '/usr/bin', ...pluginEnv('buildkit#v1', { 'oci-labels': false, ...config }, form) });
}

function errorsOf(config: Record<string, unknown>, form: 'json' | 'flattened' = 'json'): string[] {
  const loaded = load(config, form);
  return loaded.ok ? [] : loaded.errors;
}

function planFor(config: Record<string, unknown>, env: Record<string, string> = {}) {
  const loaded = load(config);
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  return planJob(loaded.config, planBuildRequest(loaded.config, env, '/state', new Date(0)), env, { dockerCli: true });
}

function skipPlan(config: Record<string, unknown>, env: Record<string, string>): SkipPlan {
  return defined(planFor({ image, push: true, 'skip-unchanged': true, ...config }, env).skip, 'a skip plan');
}

describe('skip-unchanged: the option', () => {
  test.each(['json', 'flattened'] as const)('%s: true, or inputs, max-age and key-prefix', (form) => {
    const on = load({ image, push: true, 'skip-unchanged': true }, form);
    expect(on.ok && on.config.skipUnchanged).toEqual({});
    const off = load({ image, push: true, 'skip-unchanged': false }, form);
    expect(off.ok && off.config.skipUnchanged).toBeUndefined();
    const settings = load(
      { image, push: true, 'skip-unchanged': { inputs: ['package-lock.json', 'src/**', '!src/**/*.md'], 'max-age': '7d', 'key-prefix': 'tools' } },
      form,
    );
    expect(settings.ok && settings.config.skipUnchanged).toEqual({
      inputs: ['package-lock.json', 'src/**', '!src/**/*.md'],
      maxAgeSeconds: 7 * 86400,
      keyPrefix: 'tools',
    });
    const one = load({ image, push: true, 'skip-unchanged': { inputs: 'Gemfile.lock', 'max-age': 3600 } }, form);
    expect(one.ok && one.config.skipUnchanged).toEqual({ inputs: ['Gemfile.lock'], maxAgeSeconds: 3600 });
  });

  test.each(['json', 'flattened'] as const)('%s: bad settings name the option', (form) => {
    expect(errorsOf({ image, push: true, 'skip-unchanged': { 'max-age': 'a week' } }, form)).toEqual([
      'skip-unchanged.max-age: expected a duration of at least 1m, such as 7d, 12h or 1w (or seconds); got "a week"',
    ]);
    expect(errorsOf({ image, push: true, 'skip-unchanged': { 'max-age': '30s' } }, form)).toHaveLength(1);
    expect(errorsOf({ image, push: true, 'skip-unchanged': { 'key-prefix': '-x' } }, form)).toEqual([
      'skip-unchanged.key-prefix: expected up to 56 characters usable in a tag (letters, digits, _ . -, not starting with . or -); got "-x"',
    ]);
    expect(errorsOf({ image, push: true, 'skip-unchanged': { 'key-prefix': 'a'.repeat(57) } }, form)).toHaveLength(1);
    expect(errorsOf({ image, push: true, 'skip-unchanged': { inputs: [''] } }, form)).toEqual([
      'skip-unchanged.inputs: expected globs such as package-lock.json or src/**; got none (an empty value?)',
    ]);
    expect(errorsOf({ image, push: true, 'skip-unchanged': { inputs: ['src/**', '!'] } }, form)).toEqual([
      'skip-unchanged.inputs[1]: expected a glob such as package-lock.json or src/**; got "!"',
    ]);
    expect(errorsOf({ image, push: true, 'skip-unchanged': { inputs: ['../other/**'] } }, form)).toEqual([
      'skip-unchanged.inputs[0]: globs are relative to the checkout and stay inside it; got "../other/**"',
    ]);
    expect(errorsOf({ image, push: true, 'skip-unchanged': { inputs: ['/etc/passwd'] } }, form)).toHaveLength(1);
    expect(errorsOf({ image, push: true, 'skip-unchanged': { inputs: ['!*.md'] } }, form)).toEqual([
      'skip-unchanged.inputs: every glob is a negation (!...); name the files the build reads',
    ]);
  });

  test.each(['json', 'flattened'] as const)('%s: an unknown key and a wrong type are refused by the schema, naming the option', (form) => {
    expect(errorsOf({ image, push: true, 'skip-unchanged': { input: 'x' } }, form)).toEqual([
      'skip-unchanged.input: unknown option; expected one of: inputs, max-age, key-prefix',
    ]);
    // The same rule for the other true-or-map option, which used to fail with no message at all.
    expect(errorsOf({ image, push: true, cache: { typ: 'registry' } }, form)).toEqual([
      expect.stringMatching(/^cache\.typ: unknown option; expected one of: type, ref, /),
    ]);
  });

  test('a value of neither shape is refused', () => {
    expect(errorsOf({ image, push: true, 'skip-unchanged': 'yes' })).toEqual(['skip-unchanged: expected a boolean or an object, got string "yes"']);
  });

  test('with bake it is refused', () => {
    expect(errorsOf({ bake: { files: ['docker-bake.hcl'] }, 'skip-unchanged': true })).toContain(
      'skip-unchanged: applies to a single build; with bake, each target would need a key of its own',
    );
  });

  test('ages: seconds, Go durations, days and weeks', () => {
    expect(ageSeconds('90')).toBe(90);
    expect(ageSeconds('1h30m')).toBe(5400);
    expect(ageSeconds('1d12h')).toBe(1.5 * 86400);
    expect(ageSeconds('2w')).toBe(14 * 86400);
    expect(ageSeconds('7 days')).toBeUndefined();
  });
});

describe('skip-unchanged: the plan', () => {
  test('refused without a push, with file outputs, and with a remote context, before anything runs', () => {
    expect(() => planFor({ image, 'skip-unchanged': true })).toThrow('skip-unchanged: the reused image is found in a registry; set push: true (and image)');
    expect(() => planFor({ image, load: true, 'skip-unchanged': true })).toThrow(/set push: true/);
    expect(() => planFor({ image, push: true, outputs: ['type=local,dest=out'], 'skip-unchanged': true })).toThrow(
      'skip-unchanged: a reused image writes no local output; build those in a step without skip-unchanged',
    );
    expect(() => planFor({ image, push: true, context: 'https://github.com/acme/app.git#main', 'skip-unchanged': true })).toThrow(
      'skip-unchanged: the context https://github.com/acme/app.git#main is not a directory on the agent, so it cannot be hashed',
    );
  });

  test('a remote builder without platforms is refused: its platform is not known before the build', () => {
    expect(() => planFor({ image, push: true, 'skip-unchanged': true, builder: { endpoint: 'tcp://builder:1234' } })).toThrow(
      /^skip-unchanged: set platforms \(e\.g\. linux\/amd64\): the buildx-remote builder builds for its own platform/,
    );
    expect(() => planFor({ image, push: true, 'skip-unchanged': true, builder: { endpoint: 'tcp://builder:1234', client: 'buildctl' } })).toThrow(
      /the buildctl-remote builder/,
    );
    expect(planFor({ image, push: true, platforms: ['linux/arm64'], 'skip-unchanged': true, builder: { endpoint: 'tcp://b:1234' } }).skip).toBeDefined();
  });

  test('the tag lives in the first pushed repository; every pushed name is reused; a fork never writes', () => {
    const env = { BUILDKITE_BUILD_CHECKOUT_PATH: '/checkout' };
    const plan = skipPlan({ tags: ['1.0', 'other.example.com/x/app:1.0'], 'skip-unchanged': { 'key-prefix': 'tools' } }, env);
    expect(plan).toMatchObject({
      repository: image,
      tagPrefix: 'tools-',
      names: [`${image}:1.0`, 'other.example.com/x/app:1.0'],
      writes: true,
      reuses: true,
      dockerfile: '/checkout/Dockerfile',
      files: { context: '/checkout' },
      checkout: '/checkout',
    });
    const fork = planFor(
      { image, push: true, 'skip-unchanged': true },
      { BUILDKITE_PULL_REQUEST: '7', BUILDKITE_PULL_REQUEST_REPO: 'git@github.com:someone/app.git', BUILDKITE_REPO: 'git@github.com:acme/app.git' },
    );
    expect(fork.skip?.writes).toBe(false);
    expect(fork.notices).toContain('skip-unchanged: a pull request from a fork may reuse an image but never writes an inputs- tag');
    const noCache = planFor({ image, push: true, 'no-cache': true, 'skip-unchanged': true });
    expect(noCache.skip?.reuses).toBe(false);
  });

  test('the settings hashed: build-args resolved from the job, the user labels but not the automatic ones', () => {
    const plan = skipPlan(
      { 'build-args': ['VERSION', 'MODE=prod'], labels: { team: 'a' }, 'oci-labels': true, target: 'app', platforms: ['linux/amd64', 'linux/arm64'] },
      { VERSION: '3', BUILDKITE_COMMIT: 'abc', BUILDKITE_BUILD_URL: 'https://buildkite.com/acme/app/builds/1' },
    );
    expect(plan.settings).toMatchObject({
      target: 'app',
      platforms: ['linux/amd64', 'linux/arm64'],
      buildArgs: ['VERSION=3', 'MODE=prod'],
      labels: ['team=a'],
    });
  });
});

describe('skip-unchanged: the key', () => {
  function tree(files: Record<string, string> = { Dockerfile: 'FROM scratch\nCOPY . /\n', 'app.txt': 'one', 'README.md': 'docs' }): string {
    const dir = scratchDir('inputs-key-');
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
    return dir;
  }
  const plan = (dir: string, config: Record<string, unknown> = {}) => skipPlan(config, { BUILDKITE_BUILD_CHECKOUT_PATH: dir });
  const now = new Date('2026-11-30T00:00:00Z');

  test('the same files in another checkout give the same key; the ref carries it', async () => {
    const [a, b] = [tree(), tree()];
    const keyA = await inputsKey(plan(a), now);
    expect(keyA.key).toMatch(/^[0-9a-f]{64}$/);
    expect(keyA.ref).toBe(`${image}:inputs-${keyA.key}`);
    expect((await inputsKey(plan(b), now)).key).toBe(keyA.key);
    expect(keyA.files).toBeGreaterThanOrEqual(3);
  });

  test('a context file, the Dockerfile, a build-arg, the target or the platforms change it', async () => {
    const base = (await inputsKey(plan(tree()), now)).key;
    const changed = tree();
    writeFileSync(join(changed, 'app.txt'), 'two');
    expect((await inputsKey(plan(changed), now)).key).not.toBe(base);
    const dockerfile = tree();
    writeFileSync(join(dockerfile, 'Dockerfile'), 'FROM scratch\nCOPY app.txt /\n');
    expect((await inputsKey(plan(dockerfile), now)).key).not.toBe(base);
    for (const config of [{ 'build-args': { A: '1' } }, { target: 'x' }, { platforms: ['linux/arm64'] }, { 'skip-unchanged': { 'key-prefix': 'p' } }]) {
      const other = await inputsKey(plan(tree(), config), now);
      expect(other.ref).not.toBe(`${image}:inputs-${base}`);
    }
  });

  test('a .dockerignored file does not change it; with inputs, only matching files do', async () => {
    const ignored = { Dockerfile: 'FROM scratch\n', '.dockerignore': 'README.md\n', 'app.txt': 'one', 'README.md': 'docs' };
    const base = (await inputsKey(plan(tree(ignored)), now)).key;
    expect((await inputsKey(plan(tree({ ...ignored, 'README.md': 'other docs' })), now)).key).toBe(base);
    expect((await inputsKey(plan(tree({ ...ignored, 'app.txt': 'two' })), now)).key).not.toBe(base);

    const withInputs = { 'skip-unchanged': { inputs: ['app.txt'] } };
    const inputsBase = await inputsKey(plan(tree(), withInputs), now);
    expect(inputsBase.files).toBe(1);
    expect((await inputsKey(plan(tree({ Dockerfile: 'FROM scratch\nCOPY . /\n', 'app.txt': 'one', 'README.md': 'changed' }), withInputs), now)).key).toBe(
      inputsBase.key,
    );
    expect((await inputsKey(plan(tree({ Dockerfile: 'FROM scratch\nCOPY . /\n', 'app.txt': 'two', 'README.md': 'docs' }), withInputs), now)).key).not.toBe(
      inputsBase.key,
    );
    // A typo would leave nothing to hash, and every later change would reuse the image.
    const dir = tree();
    await expect(inputsKey(plan(dir, { 'skip-unchanged': { inputs: ['scr/**'] } }), now)).rejects.toThrow(
      `skip-unchanged.inputs: no file in the checkout ${dir} matches scr/**; nothing would be hashed`,
    );
  });

  test('a local named context and an OCI layout are hashed whole; an image context by its name', async () => {
    const dir = tree({ Dockerfile: 'FROM scratch\n', 'shared/lib.txt': 'v1', 'layout/index.json': '{}' });
    const config = { 'build-contexts': { shared: 'shared', base: 'docker-image://alpine:3.20', oci: `oci-layout://${dir}/layout:1.0` } };
    expect(plan(dir, config).localContexts).toEqual([
      { name: 'shared', dir: `${dir}/shared` },
      { name: 'oci', dir: `${dir}/layout` },
    ]);
    const before = (await inputsKey(plan(dir, config), now)).key;
    writeFileSync(join(dir, 'shared/lib.txt'), 'v2');
    const shared = (await inputsKey(plan(dir, config), now)).key;
    expect(shared).not.toBe(before);
    writeFileSync(join(dir, 'layout/index.json'), '{"schemaVersion":2}');
    expect((await inputsKey(plan(dir, config), now)).key).not.toBe(shared);
  });

  test('a context with .git warns that the key changes with every checkout', async () => {
    const dir = tree({ Dockerfile: 'FROM scratch\n', '.git/HEAD': 'ref: refs/heads/main\n' });
    expect((await inputsKey(plan(dir), now)).warnings[0]).toMatch(/^skip-unchanged: the build context includes .git, which differs between checkouts/);
  });

  test('a missing Dockerfile is a clear error', async () => {
    await expect(inputsKey(plan(tree({ 'app.txt': 'x' })), now)).rejects.toThrow(
      /^skip-unchanged: cannot read the Dockerfile .*\/Dockerfile to hash it \(ENOENT\)$/,
    );
  });

  test('max-age: the key changes once per window, at an offset of its own', async () => {
    const dir = tree();
    const weekly = { 'skip-unchanged': { 'max-age': '7d' } };
    const monday = await inputsKey(plan(dir, weekly), now);
    expect(monday.key).not.toBe((await inputsKey(plan(dir), now)).key);
    const week = 7 * 86400;
    for (let hour = 0; hour < 24 * 7; hour += 5) {
      const at = new Date(now.getTime() + hour * 3600e3);
      expect(maxAgeWindow('00000000', week, new Date(at.getTime() + week * 1000))).toBe(maxAgeWindow('00000000', week, at) + 1);
    }
    // Two keys' windows turn over on different days.
    const turnover = (base: string) =>
      [...Array(7).keys()].find((day) => maxAgeWindow(base, 7 * 86400, new Date(now.getTime() + day * 86400e3)) !== maxAgeWindow(base, 7 * 86400, now));
    expect(turnover('00000000')).not.toBe(turnover('0003f480'));
  });

  test('the executable bit counts, so chmod +x changes the key', async () => {
    const dir = tree();
    const before = (await inputsKey(plan(dir), now)).key;
    chmodSync(join(dir, 'app.txt'), 0o755);
    expect((await inputsKey(plan(dir), now)).key).not.toBe(before);
  });

  test("the key's version is the plugin's major version", () => {
    const { version } = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
    expect(inputsKeyVersion).toBe(Number(version.split('.')[0]));
  });
});

describe('skip-unchanged: the report', () => {
  test('the annotation says whether the image was reused or built', () => {
    const reused = buildAnnotation({
      refs: [`${image}:1`],
      pushed: true,
      seconds: 0.4,
      reuse: { reused: true, ref: `${image}:inputs-ab`, since: 'build 41 (commit 1a2b3c4)' },
    });
    expect(reused).toContain('#### :docker: Image reused in 0.4 s');
    expect(reused).toContain(`Unchanged since build 41 (commit 1a2b3c4): not built, the image of \`${image}:inputs-ab\` was tagged.`);
    const built = buildAnnotation({
      label: 'App',
      refs: [],
      pushed: true,
      seconds: 3,
      reuse: { reused: false, ref: `${image}:inputs-ab`, why: 'no-cache is set, so it was built' },
    });
    expect(built).toContain('#### App in 3.0 s');
    expect(built).toContain('Built: no-cache is set, so it was built.');
  });
});

describe('skip-unchanged: a build pushes the inputs tag too, but does not report it as a name', () => {
  test('miss: the job pushes inputs-<key> too; BUILDKIT_IMAGE_REFS and meta-data leave it out', async () => {
    const dir = scratchDir('skip-hook-');
    writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
    // The registry lookup fails (nothing answers on this port): a warning, then the build.
    const run = await commandHook({ image: '127.0.0.1:9/app', push: true, 'skip-unchanged': true }, undefined, { BUILDKITE_BUILD_CHECKOUT_PATH: dir });
    expect(run.code).toBe(0);
    // On the engine's own BuildKit the build names the job's own tag, and the public names are pushed after it.
    const pushed = run.calls.map((call) => call.argv).filter((argv) => argv[0] === 'docker' && argv[1] === 'push');
    expect(pushed.map((argv) => argv[2])).toEqual(['127.0.0.1:9/app:latest', expect.stringMatching(/^127\.0\.0\.1:9\/app:inputs-[0-9a-f]{64}$/)]);
    expect(run.log).toMatch(/skip-unchanged: could not look up the inputs tag \(127\.0\.0\.1:9\/app:inputs-[0-9a-f]{64}: .*ECONNREFUSED.*\); building/);
    expect(run.exports).toContain('export BUILDKIT_IMAGE_REFS=127.0.0.1:9/app:latest\n');
    expect(run.exports).toContain('export BUILDKIT_IMAGE_REUSED=false\n');
    expect(run.metaData['buildkit.app.reused']).toBe('false');
    expect(run.annotations[0]?.body).toContain('Built: the registry could not be asked, so it was built.');
  });

  test("miss with only outputs: the inputs tag joins the pushed output's names (buildx would let a --tag replace them)", async () => {
    const dir = scratchDir('skip-hook-');
    writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
    const run = await commandHook({ outputs: ['type=image,name=127.0.0.1:9/app:1,push=true'], 'skip-unchanged': true }, undefined, {
      BUILDKITE_BUILD_CHECKOUT_PATH: dir,
    });
    expect(run.code).toBe(0);
    const build = defined(
      run.calls.map((call) => call.argv).find((argv) => argv.includes('build')),
      'the build',
    );
    expect(build).not.toContain('--tag');
    expect(build[build.indexOf('--output') + 1]).toMatch(/^type=image,push=true,"name=127\.0\.0\.1:9\/app:1,127\.0\.0\.1:9\/app:inputs-[0-9a-f]{64}"$/);
  });

  test('a fork builds without the inputs tag', async () => {
    const dir = scratchDir('skip-hook-');
    writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
    const fork = {
      BUILDKITE_PULL_REQUEST: '3',
      BUILDKITE_PULL_REQUEST_REPO: 'https://github.com/mallory/app.git',
      BUILDKITE_REPO: 'https://github.com/acme/app.git',
    };
    const run = await commandHook({ image: '127.0.0.1:9/app', push: true, 'skip-unchanged': true }, undefined, { BUILDKITE_BUILD_CHECKOUT_PATH: dir, ...fork });
    expect(run.code).toBe(0);
    const build = defined(
      run.calls.map((call) => call.argv).find((argv) => argv.includes('build')),
      'the build',
    );
    expect(build.filter((arg) => arg.includes(':inputs-'))).toEqual([]);
  });
});

import { pluginEnv } from '../../src/cli/plugin-env';
import { loadConfig } from '../../src/config/load-config';
import { Facts } from '../../src/engines/engine';
import { planBuildRequest } from '../../src/plan/build-request';
import { isForkPullRequest } from '../../src/plan/cache-plan';
import { planJob } from '../../src/plan/plan';
import { PlanError } from '../../src/plan/plan-error';
import { BuildProgress } from '../../src/report/build-progress';
import { buildWritesMetadata, commandHook } from '../support/command-hook';
import { fakeRuntime } from '../support/fake-runtime';

const registry = 'registry.example.com/team/app';
const branchEnv = { BUILDKITE_BRANCH: 'feature/login', BUILDKITE_PIPELINE_DEFAULT_BRANCH: 'main', BUILDKITE_REPO: 'git@github.com:acme/app.git' };
const exportAttrs = 'image-manifest=true,oci-mediatypes=true,mode=max,compression=zstd,ignore-error=true';

function load(config: Record<string, unknown>, form: 'json' | 'flattened' = 'json') {
  return loadConfig({ PATH: '/usr/bin', ...pluginEnv('buildkit#v1', { 'oci-labels': false, ...config }, form) });
}

function errorsOf(config: Record<string, unknown>, form: 'json' | 'flattened' = 'json'): string[] {
  const loaded = load(config, form);
  return loaded.ok ? [] : loaded.errors;
}

function planFor(config: Record<string, unknown>, env: Record<string, string> = branchEnv, facts: Facts = { dockerCli: true }) {
  const loaded = load(config);
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  return planJob(loaded.config, planBuildRequest(loaded.config, env, '/state', new Date(0)), env, facts);
}

/** The cache flags of the build command, in order. */
function cacheFlags(argv: string[]): string[] {
  return argv.flatMap((arg, i) => (/^--(cache-from|cache-to|import-cache|export-cache)$/.test(arg) ? [`${arg} ${argv[i + 1]}`] : []));
}

describe('cache: the option', () => {
  test.each(['json', 'flattened'] as const)('%s: true, a map, raw lists', (form) => {
    const loaded = load({ image: registry, cache: true, 'cache-from': ['other/app:cache'], 'cache-to': ['type=local,dest=/tmp/c'] }, form);
    if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
    expect(loaded.config.cache).toEqual({ type: 'registry', mode: 'max', maxBytes: 10 * 1024 ** 3, usePathStyle: false, from: [] });
    expect(loaded.config.cacheFrom).toEqual([{ type: 'registry', attrs: [{ key: 'ref', value: 'other/app:cache' }] }]);
    expect(loaded.config.cacheTo).toEqual([{ type: 'local', attrs: [{ key: 'dest', value: '/tmp/c' }] }]);
    const s3 = load({ image: registry, cache: { bucket: 'ci-cache', region: 'eu-west-1', 'use-path-style': true, mode: 'min' } }, form);
    expect(s3.ok && s3.config.cache).toMatchObject({ type: 's3', bucket: 'ci-cache', region: 'eu-west-1', usePathStyle: true, mode: 'min' });
  });

  test.each(['json', 'flattened'] as const)('%s: settings that do not go together name the option', (form) => {
    expect(errorsOf({ image: registry, cache: { type: 'registry', bucket: 'b' } }, form)).toEqual([
      'cache.bucket: applies to type: s3 (the cache is type: registry)',
    ]);
    expect(errorsOf({ image: registry, cache: { type: 's3', region: 'eu-west-1' } }, form)).toEqual([
      'cache.bucket: type: s3 needs the bucket to keep the cache in',
    ]);
    expect(errorsOf({ image: registry, cache: { ref: 'a:cache', repository: 'b' } }, form)).toEqual([
      'cache.ref: give ref (one exact cache ref) or repository (a tag per branch), not both',
    ]);
    expect(errorsOf({ image: registry, cache: { type: 'inline', mode: 'max' } }, form)).toEqual([
      'cache.mode: inline cache holds only the final image (mode=min); use type: registry for mode=max',
    ]);
    expect(errorsOf({ image: registry, cache: { type: 'inline', repository: 'x' } }, form)).toEqual([
      'cache.repository: applies to type: registry (the cache is type: inline)',
    ]);
    expect(errorsOf({ image: registry, 'cache-from': ['type=registry,ref'] }, form)).toEqual([
      'cache-from[0]: expected key=value fields; got "ref" in "type=registry,ref"',
    ]);
    expect(errorsOf({ image: registry, cache: { type: 'gha' } }, form).join('\n')).toMatch(/cache/);
    expect(errorsOf({ bake: { targets: ['app'] }, cache: true }, form)[0]).toMatch(/^cache: with bake, each target needs a cache of its own/);
  });
});

describe('cache: planned per branch', () => {
  test('cache: true imports the branch, then the default branch; exports the branch only, with ECR-compatible manifests', () => {
    expect(cacheFlags(planFor({ image: registry, tags: ['1'], push: true, cache: true }).build.argv)).toEqual([
      `--cache-from type=registry,ref=${registry}:buildcache-feature-login`,
      `--cache-from type=registry,ref=${registry}:buildcache-main`,
      `--cache-to type=registry,ref=${registry}:buildcache-feature-login,${exportAttrs}`,
    ]);
  });

  test("a pull request also reads its base branch's cache, before the default branch's", () => {
    const env = {
      ...branchEnv,
      BUILDKITE_PULL_REQUEST: '42',
      BUILDKITE_PULL_REQUEST_BASE_BRANCH: 'release/2.0',
      BUILDKITE_PULL_REQUEST_REPO: 'https://github.com/acme/app',
    };
    expect(cacheFlags(planFor({ image: registry, cache: true }, env).build.argv)).toEqual([
      `--cache-from type=registry,ref=${registry}:buildcache-feature-login`,
      `--cache-from type=registry,ref=${registry}:buildcache-release-2.0`,
      `--cache-from type=registry,ref=${registry}:buildcache-main`,
      `--cache-to type=registry,ref=${registry}:buildcache-feature-login,${exportAttrs}`,
    ]);
  });

  test('a pull request from a fork imports and never exports, with a notice', () => {
    const env = {
      ...branchEnv,
      BUILDKITE_PULL_REQUEST: '7',
      BUILDKITE_PULL_REQUEST_BASE_BRANCH: 'main',
      BUILDKITE_PULL_REQUEST_REPO: 'git://github.com/mallory/app.git',
    };
    const plan = planFor({ image: registry, cache: true }, env);
    expect(cacheFlags(plan.build.argv)).toEqual([
      `--cache-from type=registry,ref=${registry}:buildcache-feature-login`,
      `--cache-from type=registry,ref=${registry}:buildcache-main`,
    ]);
    expect(plan.notices).toContain('cache: a pull request from a fork reads the cache but never writes it');
  });

  test.each([
    [{ BUILDKITE_PULL_REQUEST: '1', BUILDKITE_PULL_REQUEST_REPO: 'https://github.com/acme/app.git', BUILDKITE_REPO: 'git@github.com:acme/app.git' }, false],
    [{ BUILDKITE_PULL_REQUEST: '1', BUILDKITE_PULL_REQUEST_REPO: 'git://github.com/ACME/app.git', BUILDKITE_REPO: 'https://github.com/acme/app' }, false],
    [{ BUILDKITE_PULL_REQUEST: '1', BUILDKITE_PULL_REQUEST_REPO: 'https://github.com/other/app', BUILDKITE_REPO: 'git@github.com:acme/app.git' }, true],
    [{ BUILDKITE_PULL_REQUEST: 'false', BUILDKITE_PULL_REQUEST_REPO: 'https://github.com/other/app', BUILDKITE_REPO: 'x' }, false],
    [{ BUILDKITE_PULL_REQUEST: '1', BUILDKITE_PULL_REQUEST_REPO: '', BUILDKITE_REPO: 'x' }, false],
  ])('%j is a fork: %s', (env, fork) => {
    expect(isForkPullRequest(env)).toBe(fork);
  });

  test('repository and ref place the cache elsewhere; from adds imports after the branch ones', () => {
    expect(
      cacheFlags(planFor({ image: registry, cache: { repository: 'registry.example.com/cache/app', mode: 'min', from: ['base/app:cache'] } }).build.argv),
    ).toEqual([
      '--cache-from type=registry,ref=registry.example.com/cache/app:buildcache-feature-login',
      '--cache-from type=registry,ref=registry.example.com/cache/app:buildcache-main',
      '--cache-from type=registry,ref=base/app:cache',
      '--cache-to type=registry,ref=registry.example.com/cache/app:buildcache-feature-login,image-manifest=true,oci-mediatypes=true,mode=min,compression=zstd,ignore-error=true',
    ]);
    expect(cacheFlags(planFor({ image: registry, cache: { ref: `${registry}:cache` } }).build.argv)).toEqual([
      `--cache-from type=registry,ref=${registry}:cache`,
      `--cache-to type=registry,ref=${registry}:cache,${exportAttrs}`,
    ]);
  });

  test('s3: one import per branch (BuildKit reads one name per import), one export; prefix per pipeline', () => {
    const env = { ...branchEnv, BUILDKITE_PIPELINE_SLUG: 'web' };
    const plan = planFor(
      { image: registry, cache: { bucket: 'ci-cache', region: 'eu-west-1', 'endpoint-url': 'http://127.0.0.1:9000', 'use-path-style': true } },
      env,
    );
    const where = 'bucket=ci-cache,region=eu-west-1,prefix=web/,endpoint_url=http://127.0.0.1:9000,use_path_style=true';
    expect(cacheFlags(plan.build.argv)).toEqual([
      `--cache-from type=s3,${where},name=feature-login`,
      `--cache-from type=s3,${where},name=main`,
      `--cache-to type=s3,${where},name=feature-login,mode=max,compression=zstd,ignore-error=true`,
    ]);
  });

  test('s3 region from the environment, or a clear error', () => {
    expect(cacheFlags(planFor({ image: registry, cache: { bucket: 'b' } }, { ...branchEnv, AWS_REGION: 'us-west-2' }).build.argv)[0]).toContain(
      'region=us-west-2',
    );
    expect(() => planFor({ image: registry, cache: { bucket: 'b' } })).toThrow(
      new PlanError('cache.region: an s3 cache needs its region (cache.region, or AWS_REGION in the environment)'),
    );
  });

  test('inline: exported into the image, which is also tagged buildcache-<branch>; imported by those tags', () => {
    const plan = planFor({ image: registry, tags: ['1'], push: true, cache: { type: 'inline' } });
    expect(cacheFlags(plan.build.argv)).toEqual([
      `--cache-from type=registry,ref=${registry}:buildcache-feature-login`,
      `--cache-from type=registry,ref=${registry}:buildcache-main`,
      '--cache-to type=inline',
    ]);
    expect(plan.request.refs).toEqual([`${registry}:1`, `${registry}:buildcache-feature-login`]);
    expect(cacheFlags(planFor({ image: registry, outputs: ['type=image,push=true'], cache: { type: 'inline' } }).build.argv)).toContain(
      '--cache-to type=inline',
    );
    expect(() => planFor({ image: registry, cache: { type: 'inline' } })).toThrow(
      new PlanError('cache: type: inline keeps the cache in the pushed image: set image and push: true'),
    );
  });

  test('bad cache specs and settings are refused, naming the option', () => {
    expect(errorsOf({ image: registry, 'cache-to': ['type=bogus,dest=x'] })).toEqual([
      'cache-to[0]: expected a type= field (registry, local, inline, s3, gha, azblob); got "type=bogus,dest=x"',
    ]);
    expect(errorsOf({ image: registry, cache: { repository: 'registry.example.com/cache:x' } })).toEqual([
      'cache.repository: expected a repository without a tag or digest (the plugin adds buildcache-<branch>); got "registry.example.com/cache:x"',
    ]);
    expect(errorsOf({ image: registry, cache: { type: 'none', from: ['a/b:c'] } })).toEqual([
      'cache.from: type: none imports nothing; use cache-from for imports alone',
    ]);
  });

  test("s3 on the Docker engine: buildx's docker driver has no s3 cache, on either store, so a per-job builder builds", () => {
    const s3 = { image: registry, cache: { bucket: 'b', region: 'eu-west-1' } };
    const plan = planFor(s3, { ...branchEnv, BUILDKITE_JOB_ID: 'job-1' }, { dockerCli: true, imageStore: 'containerd' });
    expect(plan.engine.name).toBe('docker-container');
    expect(plan.notices.join('\n')).toContain("buildx's docker driver cannot use an s3 cache");
    expect(() => planFor({ ...s3, builder: { driver: 'docker' } }, branchEnv, { dockerCli: true, imageStore: 'containerd' })).toThrow(
      new PlanError(
        "builder.driver: buildx's docker driver cannot use an s3 cache. Let the plugin use a per-job builder (builder.driver: auto or docker-container)",
      ),
    );
  });

  test('no image: a registry cache has nowhere to go', () => {
    expect(() => planFor({ cache: true })).toThrow(
      new PlanError('cache: a registry cache lives next to the image: set image, or cache.repository (or cache.ref)'),
    );
  });

  test('without cache nothing changes; type: none turns it off', () => {
    expect(cacheFlags(planFor({ image: registry }).build.argv)).toEqual([]);
    expect(cacheFlags(planFor({ image: registry, cache: { type: 'none' }, 'cache-from': ['a/b:c'] }).build.argv)).toEqual([
      '--cache-from type=registry,ref=a/b:c',
    ]);
  });
});

describe('cache: every engine', () => {
  test('buildctl: --import-cache and --export-cache', () => {
    const plan = planFor({ image: registry, cache: true, builder: { endpoint: 'tcp://127.0.0.1:1234', client: 'buildctl' } });
    expect(plan.engine.name).toBe('buildctl-remote');
    expect(cacheFlags(plan.build.argv)).toEqual([
      `--import-cache type=registry,ref=${registry}:buildcache-feature-login`,
      `--import-cache type=registry,ref=${registry}:buildcache-main`,
      `--export-cache type=registry,ref=${registry}:buildcache-feature-login,${exportAttrs}`,
    ]);
  });

  test('bake: raw cache-from / cache-to for every target', () => {
    const argv = planFor({ bake: { targets: ['app'] }, 'cache-from': ['r/a:cache'], 'cache-to': ['type=registry,ref=r/a:cache,mode=max'] }).build.argv;
    expect(argv).toEqual(
      expect.arrayContaining(['--set', '*.cache-from=type=registry,ref=r/a:cache', '--set', '*.cache-to=type=registry,ref=r/a:cache,mode=max']),
    );
  });

  test('the classic image store exports only inline cache: a registry cache gets a per-job docker-container builder', () => {
    const plan = planFor({ image: registry, cache: true }, { ...branchEnv, BUILDKITE_JOB_ID: 'job-1' }, { dockerCli: true, imageStore: 'classic' });
    expect(plan.engine.name).toBe('docker-container');
    expect(plan.notices.join('\n')).toContain("the engine's classic image store cannot do a registry cache export");
    expect(planFor({ image: registry, push: true, cache: { type: 'inline' } }, branchEnv, { dockerCli: true, imageStore: 'classic' }).engine.name).toBe(
      'docker',
    );
    expect(() => planFor({ image: registry, cache: true, builder: { driver: 'docker' } }, branchEnv, { dockerCli: true, imageStore: 'classic' })).toThrow(
      /classic image store cannot do a registry cache export/,
    );
  });

  test('an ECR cache repository is logged in to like the image', () => {
    const ecrCache = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/cache';
    expect(planFor({ image: 'ghcr.io/acme/app', cache: { repository: ecrCache } }).logins.ecr.map((r) => r.host)).toEqual([
      '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
    ]);
  });
});

describe('cache: what the progress output tells', () => {
  const output = [
    '#1 [internal] load build definition from Dockerfile',
    '#1 DONE 0.0s',
    `#3 importing cache manifest from ${registry}:buildcache-feature-login`,
    `#3 ERROR: ${registry}:buildcache-feature-login: not found`,
    `#4 importing cache manifest from ${registry}:buildcache-main`,
    '#4 DONE 0.1s',
    '#5 [base 1/2] COPY busybox /bin/busybox',
    '#5 CACHED',
    '#6 [linux/arm64 base 2/2] RUN ["/bin/busybox", "--install", "-s", "/bin"]',
    '#6 CACHED',
    '#7 [build 1/1] RUN echo "hello" > /greeting',
    '#7 0.104 hello',
    '#7 DONE 0.2s',
    '#9 exporting to image',
    '#9 DONE 0.3s',
    '#10 exporting cache to registry',
    '#10 ERROR: error writing layer blob: connect: connection refused',
  ];

  test('steps cached of build steps; failed imports and exports', () => {
    const progress = new BuildProgress();
    output.forEach((line) => progress.line(line));
    expect(progress.cacheHits()).toEqual({ cached: 2, total: 3 });
    expect(progress.failedImports()).toEqual([
      `importing cache manifest from ${registry}:buildcache-feature-login: ${registry}:buildcache-feature-login: not found`,
    ]);
    expect(progress.failedExports()).toEqual(['exporting cache to registry: error writing layer blob: connect: connection refused']);
  });

  test('the command hook reports hits in meta-data and the annotation, a failed export as a warning, and succeeds', async () => {
    const fake = fakeRuntime((argv, options) => {
      if (argv[2] === 'build') output.forEach((line) => options.onLine?.(line));
      return buildWritesMetadata(argv);
    });
    const hook = await commandHook({ image: registry, cache: true }, fake, branchEnv);
    expect(hook.code).toBe(0);
    expect(hook.metaData['buildkit.app.cache-hits']).toBe('2/3');
    expect(hook.log).toContain('buildkit: cache: 2 of 3 build steps cached');
    expect(hook.log).toContain(`buildkit: cache: nothing imported (importing cache manifest from ${registry}:buildcache-feature-login`);
    expect(hook.log).toContain('buildkit: warning: cache: the cache was not saved, the build goes on (exporting cache to registry: error writing layer blob');
    const annotation = hook.annotations.find((a) => a.context === 'buildkit-app')?.body ?? '';
    expect(annotation).toContain('Cache: 2 of 3 build steps cached');
    expect(annotation).toContain('cache: the cache was not saved');
  });

  test('an immutable-tag refusal says where to put the cache instead', async () => {
    const fake = fakeRuntime((argv, options) => {
      if (argv[2] === 'build')
        [
          '#10 exporting cache to registry',
          '#10 ERROR: tag invalid: The image tag buildcache-main already exists and cannot be overwritten because the repository is immutable.',
        ].forEach((line) => options.onLine?.(line));
      return buildWritesMetadata(argv);
    });
    const hook = await commandHook({ image: registry, cache: true }, fake, branchEnv);
    expect(hook.log).toContain('put the cache in a repository with mutable tags (cache.repository)');
  });

  test('no cache configured: no cache report, and no meta-data key', async () => {
    const fake = fakeRuntime((argv, options) => {
      if (argv[2] === 'build') output.forEach((line) => options.onLine?.(line));
      return buildWritesMetadata(argv);
    });
    const hook = await commandHook({ image: registry }, fake, branchEnv);
    expect(hook.metaData['buildkit.app.cache-hits']).toBeUndefined();
    expect(hook.log).not.toMatch(/buildkit: (warning: )?cache:/);
    expect(hook.annotations.find((a) => a.context === 'buildkit-app')?.body).not.toMatch(/cache/i);
  });
});

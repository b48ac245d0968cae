import { execFileSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon, describeWithBuildkitd, startBuildkitd, withBuildctl } from './buildkitd';
import { checkout, classicDockerHost, expectSuccess, registryManifest, root, runPipelineStep, scratchDir, testRegistry } from './support';

jest.setTimeout(180_000);

const registry = testRegistry();

/** A Buildkite job on a branch of acme/app. */
const onBranch = (branch: string, extra: Record<string, string> = {}) => ({
  BUILDKITE_BRANCH: branch,
  BUILDKITE_PIPELINE_DEFAULT_BRANCH: 'main',
  BUILDKITE_REPO: 'https://github.com/acme/app.git',
  ...extra,
});

/** The app's four build steps, with a greeting no other test builds, so only this cache can serve them. */
const app = (repo: string, greeting: string, extra: Record<string, unknown> = {}) => ({
  image: `${registry}/${repo}`,
  tags: ['1'],
  push: true,
  target: 'runtime',
  network: 'none',
  'build-args': [`GREETING=${greeting}`],
  cache: true,
  ...extra,
});

const tagExists = (repo: string, tag: string) =>
  registryManifest(registry, repo, tag).then(
    () => true,
    () => false,
  );

/** Wipes the Docker engine's build cache: the next build starts as on a fresh agent. */
const pruneEngine = () => execFileSync('docker', ['buildx', 'prune', '--all', '--force'], { stdio: 'ignore' });

describe('cache: true on the Docker engine (containerd image store)', () => {
  test("a feature branch on a wiped engine builds from the default branch's cache: every step cached", async () => {
    const repo = `e2e/cache-${Date.now()}`;
    const greeting = `cache-${Date.now()}`;
    pruneEngine();
    const main = await runPipelineStep(checkout(), { key: 'main', config: app(repo, greeting) }, { env: onBranch('main') });
    expectSuccess(main);
    expect(main.output).toContain(
      `--cache-to type=registry,ref=${registry}/${repo}:buildcache-main,image-manifest=true,oci-mediatypes=true,mode=max,compression=zstd,ignore-error=true`,
    );
    expect(main.output).toContain('buildkit: cache: 0 of 4 build steps cached');
    expect(main.output).toContain(`buildkit: cache: nothing imported (importing cache manifest from ${registry}/${repo}:buildcache-main`);
    expect(await tagExists(repo, 'buildcache-main')).toBe(true);

    const mainCache = (await registryManifest(registry, repo, 'buildcache-main')).digest;
    pruneEngine();
    const feature = await runPipelineStep(checkout(), { key: 'feature', config: app(repo, greeting) }, { env: onBranch('feature/login') });
    expectSuccess(feature);
    expect(feature.output).toContain('buildkit: cache: 4 of 4 build steps cached');
    expect(feature.result.metaData['buildkit.feature.cache-hits']).toBe('4/4');
    expect(feature.result.annotations['buildkit-feature']).toContain('Cache: 4 of 4 build steps cached');
    // The feature branch writes its own cache, never the default branch's.
    expect(await tagExists(repo, 'buildcache-feature-login')).toBe(true);
    expect((await registryManifest(registry, repo, 'buildcache-main')).digest).toBe(mainCache);
  });

  test('a pull request from a fork imports the cache but exports nothing', async () => {
    const repo = `e2e/cache-fork-${Date.now()}`;
    const greeting = `fork-${Date.now()}`;
    expectSuccess(await runPipelineStep(checkout(), { key: 'main', config: app(repo, greeting) }, { env: onBranch('main') }));
    pruneEngine();
    const fork = onBranch('mallory/patch', {
      BUILDKITE_PULL_REQUEST: '9',
      BUILDKITE_PULL_REQUEST_BASE_BRANCH: 'main',
      BUILDKITE_PULL_REQUEST_REPO: 'https://github.com/mallory/app.git',
    });
    const run = await runPipelineStep(checkout(), { key: 'fork', config: app(repo, greeting) }, { env: fork });
    expectSuccess(run);
    expect(run.output).toContain('buildkit: cache: a pull request from a fork reads the cache but never writes it');
    expect(run.output).not.toContain('--cache-to');
    expect(run.output).toContain('buildkit: cache: 4 of 4 build steps cached');
    expect(await tagExists(repo, 'buildcache-mallory-patch')).toBe(false);
  });

  test('type: local: four concurrent jobs share one cache directory, reading and writing it at once, and all succeed; the next build, on a wiped engine, is all cached', async () => {
    const root = scratchDir('local-cache-');
    const greeting = `local-${Date.now()}`;
    // Each job its own image name: jobs tagging one name at once collide in the image store (issue 14), not in the cache.
    const local = (key: string) => ({ key, config: app(`e2e/cache-local-${key}`, greeting, { push: false, cache: { type: 'local', path: root } }) });
    expectSuccess(await runPipelineStep(checkout(), local('seed'), { env: onBranch('main') }));
    pruneEngine();
    const runs = await Promise.all(['a', 'b', 'c', 'd'].map((key) => runPipelineStep(checkout(), local(key), { env: onBranch('main') })));
    runs.forEach(expectSuccess);
    for (const run of runs) expect(run.output).toMatch(new RegExp(`--cache-from type=local,src=${root}/\\.reading-`));
    // One generation is current; the others were pruned or never kept; no export dir, link, lease or lock is left.
    const left = readdirSync(root).sort();
    expect(left.filter((name) => name.startsWith('gen-'))).toEqual([readlinkSync(join(root, 'current'))]);
    expect(left.filter((name) => name.startsWith('.'))).toEqual([]);
    expect(readdirSync(join(root, 'leases'))).toEqual([]);

    pruneEngine();
    const next = await runPipelineStep(checkout(), local('next'), { env: onBranch('feature/y') });
    expectSuccess(next);
    expect(next.output).toContain('buildkit: cache: 4 of 4 build steps cached');
  });

  test('the cache registry is down during the export: the build succeeds, with a warning in the log and the annotation', async () => {
    const repo = `e2e/cache-down-${Date.now()}`;
    const run = await runPipelineStep(
      checkout(),
      { key: 'down', command: 'touch ran', config: app(repo, `down-${Date.now()}`, { cache: { ref: '127.0.0.1:1/nowhere:buildcache' } }) },
      { env: onBranch('main') },
    );
    expectSuccess(run);
    expect(run.output).toMatch(/buildkit: warning: cache: the cache was not saved, the build goes on \(exporting cache to registry: .*127\.0\.0\.1:1/);
    expect(run.result.annotations['buildkit-down']).toContain('cache: the cache was not saved');
    expect(await tagExists(repo, '1')).toBe(true);
  });
});

describeWithBuildkitd('cache: true on the classic image store (the Elastic CI Stack)', () => {
  test("a per-job docker-container builder exports the registry cache; the next job's fresh builder has every step cached", async () => {
    const host = classicDockerHost();
    const builderImage = execFileSync('bash', [join(root, 'scripts', 'buildkit-image.sh')], {
      env: { ...process.env, DOCKER_HOST: host },
      encoding: 'utf8',
    }).trim();
    const repo = `e2e/cache-classic-${Date.now()}`;
    const greeting = `classic-${Date.now()}`;
    const config = app(repo, greeting, { builder: { image: builderImage, 'driver-opts': ['network=host'] } });
    const first = await runPipelineStep(checkout(), { key: 'first', config }, { env: { ...onBranch('main'), DOCKER_HOST: host } });
    expectSuccess(first);
    expect(first.output).toContain("the engine's classic image store cannot do a registry cache export");
    expect(await tagExists(repo, 'buildcache-main')).toBe(true);

    const next = await runPipelineStep(checkout(), { key: 'next', config }, { env: { ...onBranch('feature/z'), DOCKER_HOST: host } });
    expectSuccess(next);
    expect(next.output).toContain('buildkit: cache: 4 of 4 build steps cached');
  });
});

describeWithBuildkitd('cache: true on a remote buildkitd through buildctl', () => {
  test('a second, fresh daemon builds everything from the cache the first one exported', async () => {
    const repo = `e2e/cache-buildctl-${Date.now()}`;
    const greeting = `buildctl-${Date.now()}`;
    const build = async (daemon: Daemon, key: string, branch: string) =>
      runPipelineStep(
        checkout(),
        { key, config: app(repo, greeting, { builder: { endpoint: daemon.address, client: 'buildctl' } }) },
        { env: onBranch(branch), processEnv: withBuildctl() },
      );
    const first = await startBuildkitd();
    const seeded = await build(first, 'seed', 'main');
    await first.stop();
    expectSuccess(seeded);
    expect(seeded.output).toContain(`--export-cache type=registry,ref=${registry}/${repo}:buildcache-main`);

    const fresh = await startBuildkitd();
    const run = await build(fresh, 'again', 'feature/x');
    await fresh.stop();
    expectSuccess(run);
    expect(run.output).toContain('engine buildctl-remote');
    expect(run.output).toContain('buildkit: cache: 4 of 4 build steps cached');
    expect(run.result.metaData['buildkit.again.cache-hits']).toBe('4/4');
  });
});

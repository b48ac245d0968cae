import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describeWithBuildkitd, startBuildkitd, withBuildctl } from './buildkitd';
import { StepRun, checkout, expectSuccess, registryImage, root, runPipelineStep, testRegistry } from './support';

jest.setTimeout(240_000);

/** 2023-11-14T22:13:20Z: the commit's time, whatever the clock says. */
const commitEpoch = 1_700_000_000;

/** A checkout of the fixture app that is a git repository with one commit at a fixed time. */
function gitCheckout(): string {
  const dir = checkout();
  const date = `@${commitEpoch} +0000`;
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=e2e', '-c', 'user.email=e2e@example.com', '-c', 'init.defaultBranch=main', ...args], {
      cwd: dir,
      env: { ...process.env, GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date },
      stdio: 'ignore',
    });
  git('init', '--quiet');
  git('add', '.');
  git('commit', '--quiet', '-m', 'the app');
  return dir;
}

function digestOf(run: StepRun, key: string): string {
  expectSuccess(run);
  const digest = run.result.metaData[`buildkit.${key}.digest`] ?? '';
  expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  return digest;
}

describeWithBuildkitd('reproducible: the same commit twice on a wiped buildkitd', () => {
  const registry = testRegistry();
  const config = (repo: string, endpoint: string, extra: Record<string, unknown>) => ({
    image: `${registry}/${repo}`,
    tags: ['1'],
    push: true,
    target: 'runtime',
    network: 'none',
    platforms: ['linux/amd64'],
    builder: { endpoint, ...extra },
    // The runner's clock would change the digest through the created label: it is on, as by default.
    'oci-labels': true,
  });

  /** One build on a fresh daemon (nothing cached, nothing left from the build before). */
  async function buildOnce(key: string, repo: string, options: { reproducible: boolean; client?: string }): Promise<StepRun> {
    const daemon = await startBuildkitd();
    try {
      const extra = options.client ? { client: options.client } : {};
      const step = { key, config: { ...config(repo, daemon.address, extra), ...(options.reproducible ? { reproducible: true } : {}) } };
      return await runPipelineStep(gitCheckout(), step, { processEnv: withBuildctl() });
    } finally {
      await daemon.stop();
    }
  }

  test.each([
    ['buildx (remote driver)', undefined],
    ['buildctl', 'buildctl'],
  ])('%s: reproducible gives byte-identical digests; without it they differ', async (_name, client) => {
    const repo = `e2e/reproducible-${client ?? 'buildx'}-${Date.now()}`;
    const first = await buildOnce('first', `${repo}-a`, { reproducible: true, client });
    const second = await buildOnce('second', `${repo}-b`, { reproducible: true, client });
    const digest = digestOf(first, 'first');
    expect(digestOf(second, 'second')).toBe(digest);
    expect(first.output).toContain(client ? `--opt build-arg:SOURCE_DATE_EPOCH=${commitEpoch}` : `--build-arg SOURCE_DATE_EPOCH=${commitEpoch}`);
    expect(first.output).toContain('rewrite-timestamp=true');
    const image = await registryImage(registry, `${repo}-a`, '1');
    expect(image?.config.config?.Labels?.['org.opencontainers.image.created']).toBe('2023-11-14T22:13:20.000Z');
    expect((image?.config as { created?: string }).created).toBe('2023-11-14T22:13:20Z');

    const plain1 = await buildOnce('plain1', `${repo}-c`, { reproducible: false, client });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const plain2 = await buildOnce('plain2', `${repo}-d`, { reproducible: false, client });
    expect(digestOf(plain1, 'plain1')).not.toBe(digestOf(plain2, 'plain2'));
  });

  test('without a commit (not a git checkout) the job fails, naming the option, before building', async () => {
    const daemon = await startBuildkitd();
    const run = await runPipelineStep(checkout(), {
      key: 'nogit',
      config: { ...config(`e2e/reproducible-nogit-${Date.now()}`, daemon.address, {}), reproducible: true },
    });
    expect(run.code).not.toBe(0);
    expect(run.output).toMatch(
      /reproducible: SOURCE_DATE_EPOCH is the commit time, but `git log -1 --format=%ct HEAD` in the checkout \(.*\) failed: it exited 128/,
    );
    expect(run.output).not.toContain('docker buildx build');
  });
});

describeWithBuildkitd('reproducible on the Docker engine (containerd image store)', () => {
  const registry = testRegistry();
  const builderImage = () => execFileSync('bash', [join(root, 'scripts', 'buildkit-image.sh')], { encoding: 'utf8' }).trim();
  const config = (repo: string, builder: Record<string, unknown>) => ({
    image: `${registry}/${repo}`,
    tags: ['1'],
    push: true,
    target: 'runtime',
    network: 'none',
    platforms: ['linux/amd64'],
    reproducible: true,
    builder,
  });

  test('builder.driver auto: a per-job docker-container builder rewrites the timestamps; two jobs give one digest', async () => {
    const image = builderImage();
    const repo = `e2e/reproducible-docker-${Date.now()}`;
    const builder = { image, 'driver-opts': ['network=host'] };
    const first = await runPipelineStep(
      gitCheckout(),
      { key: 'first', config: config(`${repo}-a`, builder) },
      { env: { BUILDKITE_JOB_ID: `r1-${Date.now()}` } },
    );
    const second = await runPipelineStep(
      gitCheckout(),
      { key: 'second', config: config(`${repo}-b`, builder) },
      { env: { BUILDKITE_JOB_ID: `r2-${Date.now()}` } },
    );
    expect(first.output).toContain('using a per-job docker-container builder (buildkite-r1-');
    expect(first.output).toContain("the engine's own BuildKit cannot rewrite layer timestamps (reproducible: rewrite-timestamp conflicts with unpack)");
    expect(first.output).toContain('--output type=registry,rewrite-timestamp=true');
    expect(digestOf(second, 'second')).toBe(digestOf(first, 'first'));
  });

  test("builder.driver docker: the engine's own BuildKit builds, with a warning that only the config timestamps are fixed", async () => {
    const repo = `e2e/reproducible-pinned-${Date.now()}`;
    const run = await runPipelineStep(gitCheckout(), { key: 'pinned', config: config(repo, { driver: 'docker' }) });
    digestOf(run, 'pinned');
    expect(run.output).toContain("buildkit: warning: reproducible: the Docker engine's own BuildKit cannot rewrite layer timestamps");
    expect(run.output).not.toContain('rewrite-timestamp=true');
    expect(run.output).toContain(`--build-arg SOURCE_DATE_EPOCH=${commitEpoch}`);
  });
});

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon, describeWithBuildkitd, pathWithoutDocker, startBuildkitd } from './buildkitd';
import { defined } from '../support/defined';
import { StepRun, checkout, expectSuccess, registryImage, registryManifest, runPipelineStep, testRegistry } from './support';

jest.setTimeout(180_000);

const registry = testRegistry();

/** The job's environment as the agent would give it, for build `build`. */
const jobEnv = (build: number) => ({
  BUILDKITE_BUILD_NUMBER: String(build),
  BUILDKITE_BUILD_URL: `https://buildkite.com/acme/app/builds/${build}`,
  BUILDKITE_COMMIT: `${build}`.padEnd(40, 'c'),
  BUILDKITE_REPO: 'https://github.com/acme/app.git',
  BUILDKITE_BRANCH: 'main',
});

/** The step command records what the plugin handed on. */
const record = 'echo "handed on: reused=$$BUILDKIT_IMAGE_REUSED digest=$$BUILDKIT_IMAGE_DIGEST refs=$$BUILDKIT_IMAGE_REFS"';

const handedOn = (run: StepRun) => {
  const match = /handed on: reused=(\S*) digest=(\S*) refs=(.*)/.exec(run.output);
  if (!match) throw new Error(`the step command did not run:\n${run.output}`);
  return { reused: match[1], digest: match[2], refs: match[3]?.trim() };
};

const built = (run: StepRun) => /buildkit: the build took \d+ ms/.test(run.output);

/**
 * A checkout of the app with a .dockerignore that leaves notes.txt out of the context, and
 * what the local runner writes into the checkout (the pipeline, TMPDIR), which an agent's
 * checkout does not have.
 */
function app(): string {
  const dir = checkout();
  writeFileSync(join(dir, '.dockerignore'), 'notes.txt\npipeline.yml\nbuildkit*\n');
  writeFileSync(join(dir, 'notes.txt'), 'not in the context\n');
  writeFileSync(join(dir, 'data.txt'), 'in the context\n');
  return dir;
}

const step = (repo: string, tag: string, extra: Record<string, unknown> = {}) => ({
  key: 'img',
  command: record,
  config: {
    image: `${registry}/${repo}`,
    tags: [tag],
    push: true,
    target: 'runtime',
    network: 'none',
    'build-args': ['GREETING=skip'],
    'skip-unchanged': true,
    ...extra,
  },
});

/** Wipes the engine's build cache and images: the next job starts as on a fresh agent. */
function wipeEngine(): void {
  execFileSync('docker', ['buildx', 'prune', '--all', '--force'], { stdio: 'ignore' });
  const images = execFileSync('docker', ['image', 'ls', '--quiet', '--filter', `reference=${registry}/e2e/skip-*`], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
  if (images.length > 0) execFileSync('docker', ['image', 'rm', '--force', ...new Set(images)], { stdio: 'ignore' });
}

describe('skip-unchanged on the Docker engine', () => {
  test('build once; on a wiped engine the same inputs are reused, not built: new tags on the same digest, every platform and attestation', async () => {
    const repo = `e2e/skip-${Date.now()}`;
    const first = await runPipelineStep(app(), step(repo, '1'), { env: jobEnv(41) });
    expectSuccess(first);
    expect(built(first)).toBe(true);
    const firstOut = handedOn(first);
    expect(firstOut.reused).toBe('false');
    expect(firstOut.refs).toBe(`${registry}/${repo}:1`);
    expect(first.result.metaData['buildkit.img.reused']).toBe('false');
    const key = /skip-unchanged: inputs key ([0-9a-f]{64}) /.exec(first.output)?.[1];
    expect(key).toBeDefined();
    const inputsTag = await registryManifest(registry, repo, `inputs-${key}`);
    expect(inputsTag.digest).toBe(firstOut.digest);
    // Pushed with its provenance: an index holding an attestation manifest.
    expect(inputsTag.manifest.manifests?.some((m) => m.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest')).toBe(true);

    wipeEngine();
    const second = await runPipelineStep(app(), step(repo, '2', { tags: ['2', `${registry}/${repo}-copy:2`] }), { env: jobEnv(42) });
    expectSuccess(second);
    expect(built(second)).toBe(false);
    expect(second.output).not.toContain('docker buildx build');
    expect(second.output).toContain(`buildkit: unchanged since build 41 (commit 41ccccc), reusing ${firstOut.digest}`);
    const out = handedOn(second);
    expect(out).toEqual({ reused: 'true', digest: firstOut.digest, refs: `${registry}/${repo}:2 ${registry}/${repo}-copy:2` });
    expect(second.result.metaData['buildkit.img.reused']).toBe('true');
    expect(second.result.metaData['buildkit.img.digest']).toBe(firstOut.digest);
    expect(second.result.annotations['buildkit-img']).toContain('Unchanged since build 41');
    // Both names serve the very same index, with every manifest readable in the other repository too.
    for (const [name, tag] of [
      [repo, '2'],
      [`${repo}-copy`, '2'],
    ] as const) {
      const served = await registryManifest(registry, name, tag);
      expect(served.digest).toBe(firstOut.digest);
      expect(served.manifest.manifests).toHaveLength(inputsTag.manifest.manifests?.length ?? -1);
      for (const child of served.manifest.manifests ?? []) await registryManifest(registry, name, child.digest);
    }
    expect((await registryImage(registry, `${repo}-copy`, '2'))?.config.config?.Labels?.['com.buildkite.build-url']).toBe(
      'https://buildkite.com/acme/app/builds/41',
    );
  });

  test('a changed context file or build-arg builds; a .dockerignored file, or a file outside inputs, does not', async () => {
    const repo = `e2e/skip-changes-${Date.now()}`;
    expectSuccess(await runPipelineStep(app(), step(repo, 'a'), { env: jobEnv(1) }));

    const ignored = app();
    writeFileSync(join(ignored, 'notes.txt'), 'changed, but ignored\n');
    const unchanged = await runPipelineStep(ignored, step(repo, 'b'), { env: jobEnv(2) });
    expectSuccess(unchanged);
    expect(handedOn(unchanged).reused).toBe('true');

    const edited = app();
    writeFileSync(join(edited, 'data.txt'), 'changed\n');
    const rebuilt = await runPipelineStep(edited, step(repo, 'c'), { env: jobEnv(3) });
    expectSuccess(rebuilt);
    expect(built(rebuilt)).toBe(true);
    expect(handedOn(rebuilt).reused).toBe('false');

    const arg = await runPipelineStep(app(), step(repo, 'd', { 'build-args': ['GREETING=other'] }), { env: jobEnv(4) });
    expectSuccess(arg);
    expect(handedOn(arg).reused).toBe('false');

    const inputs = { 'skip-unchanged': { inputs: ['Dockerfile', 'busybox'] } };
    expectSuccess(await runPipelineStep(app(), step(repo, 'e', inputs), { env: jobEnv(5) }));
    const outside = app();
    writeFileSync(join(outside, 'data.txt'), 'changed, but not an input\n');
    const reused = await runPipelineStep(outside, step(repo, 'f', inputs), { env: jobEnv(6) });
    expectSuccess(reused);
    expect(handedOn(reused).reused).toBe('true');
  });

  test('load: true pulls a reused image into the engine; dry-run prints the key and that it would reuse', async () => {
    const repo = `e2e/skip-load-${Date.now()}`;
    // A loaded image has no attestations (another key than without load): the first job loads too.
    expectSuccess(await runPipelineStep(app(), step(repo, '1', { load: true }), { env: jobEnv(7) }));
    wipeEngine();
    const loaded = await runPipelineStep(app(), step(repo, '2', { load: true }), { env: jobEnv(8) });
    expectSuccess(loaded);
    expect(handedOn(loaded).reused).toBe('true');
    // Pulled by the job, not by docker run.
    execFileSync('docker', ['image', 'inspect', `${registry}/${repo}:2`], { stdio: 'ignore' });
    expect(execFileSync('docker', ['run', '--rm', '--pull', 'never', '--network', 'none', `${registry}/${repo}:2`], { encoding: 'utf8' })).toBe('skip\n');

    const dry = await runPipelineStep(app(), step(repo, '3', { load: true, 'dry-run': true }), { env: jobEnv(9) });
    expectSuccess(dry);
    expect(dry.output).toMatch(
      new RegExp(`buildkit: dry-run: ${registry}/${repo}:inputs-[0-9a-f]{64} exists \\(sha256:[0-9a-f]{64}\\): it would reuse it and not build`),
    );
    expect(await registryManifest(registry, repo, '3').catch(() => undefined)).toBeUndefined();
  });

  test('a pull request from a fork reuses, but a build of new inputs never writes an inputs tag', async () => {
    const repo = `e2e/skip-fork-${Date.now()}`;
    const fork = { ...jobEnv(10), BUILDKITE_PULL_REQUEST: '5', BUILDKITE_PULL_REQUEST_REPO: 'https://github.com/mallory/app.git' };
    const run = await runPipelineStep(app(), step(repo, 'pr'), { env: fork });
    expectSuccess(run);
    expect(built(run)).toBe(true);
    const key = defined(/skip-unchanged: inputs key ([0-9a-f]{64}) /.exec(run.output)?.[1], 'the key in the log');
    await expect(registryManifest(registry, repo, `inputs-${key}`)).rejects.toThrow(/registry: 404/);
    expect(run.output).not.toContain(`--tag ${registry}/${repo}:inputs-`);
  });
});

describeWithBuildkitd('skip-unchanged on a remote buildkitd through buildctl, with no docker on the agent', () => {
  let daemon: Daemon;
  beforeAll(async () => {
    daemon = await startBuildkitd();
  });

  test('the second job reuses the image without building, tagging it with no docker CLI', async () => {
    const repo = `e2e/skip-buildctl-${Date.now()}`;
    // A remote builder's own platform is not known before the build: skip-unchanged needs platforms.
    const builder = { builder: { endpoint: daemon.address }, platforms: ['linux/amd64'] };
    const processEnv = { PATH: pathWithoutDocker() };
    const first = await runPipelineStep(app(), step(repo, '1', builder), { env: jobEnv(20), processEnv });
    expectSuccess(first);
    expect(handedOn(first).reused).toBe('false');
    const second = await runPipelineStep(app(), step(repo, '2', builder), { env: jobEnv(21), processEnv });
    expectSuccess(second);
    expect(built(second)).toBe(false);
    expect(handedOn(second)).toMatchObject({ reused: 'true', digest: handedOn(first).digest });
    expect((await registryManifest(registry, repo, '2')).digest).toBe(handedOn(first).digest);
  });
});

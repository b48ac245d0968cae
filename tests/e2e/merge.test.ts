import { defined } from '../support/defined';
import { expectSuccess, multiarchCheckout, platformManifests, registryManifest, runPipelineStep, scratchDir, testRegistry } from './support';

jest.setTimeout(240_000);

const registry = testRegistry();

/** One step per architecture, each pushing by digest, as on its own queue. */
const archStep = (key: string, repo: string, platform: string) => ({
  key,
  config: { image: `${registry}/${repo}`, 'push-by-digest': true, platforms: [platform], network: 'none' },
});

describe('push-by-digest on each architecture, then merge', () => {
  test('two per-architecture steps merge into one index with both platforms; the merge refuses a missing or duplicate platform', async () => {
    const agent = { extraArgs: ['--agent-dir', scratchDir('merge-agent-')], env: { BUILDKITE_JOB_ID: 'job-amd' } };
    const repo = `e2e/merge-${Date.now()}`;
    const amd = await runPipelineStep(multiarchCheckout(), archStep('amd', repo, 'linux/amd64'), agent);
    expectSuccess(amd);
    // buildx's docker driver cannot push by digest: it pushes the job's own tag.
    expect(amd.output).toContain(`--tag ${registry}/${repo}:buildkite-job-amd --push`);
    const amdDigest = defined(amd.result.metaData['buildkit.amd.digest'], 'the amd64 digest');
    expect(amd.result.metaData['buildkit.amd.image-refs']).toBe(`${registry}/${repo}@${amdDigest}`);
    const arm = await runPipelineStep(multiarchCheckout(), archStep('arm', repo, 'linux/arm64'), { ...agent, env: { BUILDKITE_JOB_ID: 'job-arm' } });
    expectSuccess(arm);

    const merge = await runPipelineStep(
      multiarchCheckout(),
      {
        key: 'merge',
        command: 'echo "merged $$BUILDKIT_IMAGE_DIGEST"',
        config: { image: `${registry}/${repo}`, tags: ['1.0'], merge: { steps: ['amd', 'arm'], platforms: ['linux/amd64', 'linux/arm64'] } },
      },
      agent,
    );
    expectSuccess(merge);
    expect(merge.output).not.toContain('docker buildx build');
    const index = await registryManifest(registry, repo, '1.0');
    expect(merge.output).toContain(`merged ${index.digest}`);
    expect(Object.keys(platformManifests(index.manifest)).sort()).toEqual(['linux/amd64', 'linux/arm64']);
    // The attestations of both builds came along.
    expect(index.manifest.manifests?.filter((m) => m.platform?.os === 'unknown')).toHaveLength(2);
    for (const child of index.manifest.manifests ?? []) await registryManifest(registry, repo, child.digest);

    const twice = await runPipelineStep(
      multiarchCheckout(),
      { key: 'merge2', config: { image: `${registry}/${repo}`, tags: ['bad'], merge: { steps: ['amd', 'arm', 'amd-again'] } } },
      agent,
    );
    expect(twice.code).not.toBe(0);
    expect(twice.output).toContain('merge.steps: step amd-again left no image');
    const again = await runPipelineStep(multiarchCheckout(), archStep('amd-again', repo, 'linux/amd64'), { ...agent, env: { BUILDKITE_JOB_ID: 'job-amd2' } });
    expectSuccess(again);
    const duplicate = await runPipelineStep(
      multiarchCheckout(),
      {
        key: 'merge3',
        config: { image: `${registry}/${repo}`, tags: ['bad'], merge: { steps: ['amd', 'amd-again'], platforms: ['linux/amd64', 'linux/arm64'] } },
      },
      agent,
    );
    expect(duplicate.code).not.toBe(0);
    expect(duplicate.output).toContain('linux/amd64 was built by both amd and amd-again');
    expect(duplicate.output).toContain('missing linux/arm64 (merge.platforms)');
    await expect(registryManifest(registry, repo, 'bad')).rejects.toThrow(/registry: 404/);
  });
});

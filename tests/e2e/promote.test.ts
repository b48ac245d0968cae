import { defined } from '../support/defined';
import { checkout, expectSuccess, registryManifest, runPipelineStep, scratchDir, testRegistry } from './support';

jest.setTimeout(120_000);

const registry = testRegistry();

describe('promote: new tags for a built image, by digest, without building', () => {
  test('from the step that built it, then from a digest into another repository: the digest that was tested ships', async () => {
    const agentDir = scratchDir('promote-agent-');
    const shared = { extraArgs: ['--agent-dir', agentDir] };
    const repo = `e2e/promote-${Date.now()}`;
    const build = await runPipelineStep(
      checkout(),
      { key: 'build', config: { image: `${registry}/${repo}`, tags: ['candidate'], push: true, target: 'runtime', network: 'none' } },
      shared,
    );
    expectSuccess(build);
    const digest = defined(build.result.metaData['buildkit.build.digest'], 'the built digest');

    const promote = await runPipelineStep(
      checkout(),
      {
        key: 'release',
        command: 'echo "promoted $$BUILDKIT_IMAGE_DIGEST"',
        config: { image: `${registry}/${repo}`, promote: { from: 'build', tags: ['1.0', 'stable'] } },
      },
      shared,
    );
    expectSuccess(promote);
    expect(promote.output).not.toContain('docker buildx build');
    expect(promote.output).toContain(`promoted ${digest}`);
    expect(promote.result.metaData['buildkit.release.digest']).toBe(digest);
    expect(promote.result.annotations['buildkit-release']).toContain(`Promoted by digest from \`${registry}/${repo}@${digest}\``);
    for (const tag of ['1.0', 'stable']) expect((await registryManifest(registry, repo, tag)).digest).toBe(digest);

    const other = await runPipelineStep(checkout(), {
      key: 'copy',
      config: { promote: { from: `${registry}/${repo}@${digest}`, tags: [`${registry}/${repo}-prod:1.0`] } },
    });
    expectSuccess(other);
    const copied = await registryManifest(registry, `${repo}-prod`, '1.0');
    expect(copied.digest).toBe(digest);
    for (const child of copied.manifest.manifests ?? []) await registryManifest(registry, `${repo}-prod`, child.digest);
  });

  test('a step that left no image is a clear error; build options are refused', async () => {
    const missing = await runPipelineStep(
      checkout(),
      { key: 'release', config: { image: `${registry}/e2e/none`, promote: { from: 'never-ran', tags: ['1'] } } },
      {
        extraArgs: ['--agent-dir', scratchDir('promote-agent-')],
      },
    );
    expect(missing.code).not.toBe(0);
    expect(missing.output).toContain('promote.from: step never-ran left no image');
    const refused = await runPipelineStep(checkout(), { config: { image: `${registry}/e2e/none`, target: 'x', promote: { from: 'build', tags: ['1'] } } });
    expect(refused.code).not.toBe(0);
    expect(refused.output).toContain('target: a promote step builds nothing; build in the step promote.from names');
    expect(refused.output).not.toContain('docker buildx build');
  });
});

import { checkout, expectSuccess, runPipelineStep } from './support';

jest.setTimeout(600_000);

/**
 * Opt-in: a build through buildx's kubernetes driver on a real cluster, where one can be
 * reached (KUBECONFIG set, and BUILDKIT_TEST_K8S_REGISTRY a registry its pods can push to).
 * The test machines have no cluster: there the hook tests' stand-in covers the driver.
 */
const kubeconfig = process.env.KUBECONFIG;
const registry = process.env.BUILDKIT_TEST_K8S_REGISTRY;
const reason = !kubeconfig ? 'KUBECONFIG is not set' : !registry ? 'BUILDKIT_TEST_K8S_REGISTRY is not set' : undefined;
if (reason) process.stderr.write(`SKIPPED: no Kubernetes cluster (${reason}): buildx kubernetes driver end to end\n`);

(reason ? test.skip : test)('a per-job kubernetes builder builds and pushes, and pre-exit removes it', async () => {
  const dir = checkout();
  const run = await runPipelineStep(dir, {
    key: 'k8s-driver',
    config: {
      image: `${registry}/e2e/k8s-driver`,
      tags: [`${Date.now()}`],
      push: true,
      target: 'runtime',
      builder: { driver: 'kubernetes', 'driver-opts': [`namespace=${process.env.BUILDKIT_TEST_K8S_NAMESPACE ?? 'default'}`] },
    },
  });
  expectSuccess(run);
  expect(run.result.metaData['buildkit.k8s-driver.digest']).toMatch(/^sha256:[0-9a-f]{64}$/);
  expect(run.output).toContain('buildkit: removing builder buildkite-');
});

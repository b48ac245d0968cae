import { randomBytes } from 'node:crypto';
import {
  checkout,
  classicDockerHost,
  expectSuccess,
  platformManifests,
  registryBlob,
  registryImage,
  registryManifest,
  runPipelineStep,
  testRegistry,
} from './support';
import { defined } from '../support/defined';

jest.setTimeout(120_000);

const registry = testRegistry();

describe('labels and annotations of a pushed image', () => {
  test('user labels, the automatic OCI labels and annotations at both levels are what the registry serves', async () => {
    const dir = checkout();
    const repo = `e2e/metadata-${Date.now()}`;
    const commit = randomBytes(20).toString('hex');
    const buildUrl = 'https://buildkite.com/acme/widgets/builds/77';
    const started = new Date();
    const run = await runPipelineStep(
      dir,
      {
        key: 'metadata',
        config: {
          image: `${registry}/${repo}`,
          tags: ['v1'],
          push: true,
          target: 'runtime',
          network: 'none',
          labels: { 'org.example.team': 'build infra', 'org.opencontainers.image.vendor': 'Example Co' },
          annotations: ['org.example.a=1', 'index:org.example.b=2'],
        },
      },
      {
        env: {
          BUILDKITE_JOB_ID: 'job-metadata',
          BUILDKITE_COMMIT: commit,
          BUILDKITE_REPO: 'https://ci-bot:s3cr3t-t0ken@github.com/acme/widgets.git',
          BUILDKITE_BUILD_URL: buildUrl,
        },
      },
    );
    const finished = new Date();
    expectSuccess(run);
    expect(run.output).not.toContain('s3cr3t-t0ken');

    // The tag points at an index: the image plus the provenance attestation pushed by default.
    const { digest, contentType, manifest: index } = await registryManifest(registry, repo, 'v1');
    expect(contentType).toBe('application/vnd.oci.image.index.v1+json');
    expect(run.result.metaData['buildkit.metadata.digest']).toBe(digest);
    const attestations = (index.manifests ?? []).filter((m) => m.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest');
    expect(attestations).toHaveLength(1);
    const images = platformManifests(index);
    expect(Object.keys(images)).toEqual(['linux/amd64']);

    // `index:` annotations land on the index, unprefixed ones on the image manifest only.
    expect(index.annotations?.['org.example.b']).toBe('2');
    expect(index.annotations?.['org.example.a']).toBeUndefined();
    const { manifest } = await registryManifest(registry, repo, defined(images['linux/amd64'], 'the amd64 image').digest);
    expect(manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(manifest.annotations?.['org.example.a']).toBe('1');
    expect(manifest.annotations?.['org.example.b']).toBeUndefined();

    const config = JSON.parse((await registryBlob(registry, repo, manifest.config!.digest)).toString()) as { config?: { Labels?: Record<string, string> } };
    const labels = config.config?.Labels ?? {};
    expect(labels).toMatchObject({
      'org.example.team': 'build infra',
      'org.opencontainers.image.vendor': 'Example Co',
      'org.opencontainers.image.revision': commit,
      // Credentials stripped, .git dropped: a browsable https URL.
      'org.opencontainers.image.source': 'https://github.com/acme/widgets',
      'com.buildkite.build-url': buildUrl,
    });
    const created = defined(labels['org.opencontainers.image.created'], 'a created label');
    expect(created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(Date.parse(created)).toBeGreaterThanOrEqual(started.getTime() - 1000);
    expect(Date.parse(created)).toBeLessThanOrEqual(finished.getTime());
    expect(JSON.stringify(config)).not.toContain('s3cr3t');
  });

  test('on the classic store: the pushed image carries the user and OCI labels, and the reported digest is the one served', async () => {
    const dir = checkout();
    const repo = `e2e/metadata-classic-${Date.now()}`;
    const commit = randomBytes(20).toString('hex');
    const run = await runPipelineStep(
      dir,
      {
        key: 'metadata-classic',
        config: { image: `${registry}/${repo}`, push: true, target: 'runtime', network: 'none', labels: ['org.example.team=build infra'] },
      },
      {
        env: {
          DOCKER_HOST: classicDockerHost(),
          BUILDKITE_JOB_ID: 'job-metadata-classic',
          BUILDKITE_COMMIT: commit,
          BUILDKITE_REPO: 'git@github.com:acme/widgets.git',
          BUILDKITE_BUILD_URL: 'https://buildkite.com/acme/widgets/builds/78',
        },
      },
    );
    expectSuccess(run);
    // No --builder: the classic store's own docker driver pushes labels fine.
    expect(run.output).not.toContain('--builder');
    const image = await registryImage(registry, repo, 'latest');
    expect(image?.digest).toBe(run.result.metaData['buildkit.metadata-classic.digest']);
    expect(image?.config.config?.Labels).toMatchObject({
      'org.example.team': 'build infra',
      'org.opencontainers.image.revision': commit,
      'org.opencontainers.image.source': 'https://github.com/acme/widgets',
      'com.buildkite.build-url': 'https://buildkite.com/acme/widgets/builds/78',
    });
    expect(image?.config.config?.Labels?.['org.opencontainers.image.created']).toMatch(/^\d{4}-\d\d-\d\dT/);
  });
});

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  classicDockerHost,
  expectClassicStoreRefusal,
  expectSuccess,
  fileInImage,
  multiarchCheckout,
  plannedCommands,
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
const platforms = ['linux/amd64', 'linux/arm64'];
const checkout = multiarchCheckout;

describe('platforms: [linux/amd64, linux/arm64]', () => {
  test('on the containerd store: pushes one index with both platforms, and the arm64 RUN really ran under QEMU', async () => {
    const dir = checkout();
    const repo = `e2e/multiarch-${Date.now()}`;
    const run = await runPipelineStep(
      dir,
      { key: 'multiarch', config: { image: `${registry}/${repo}`, tags: ['v1'], platforms, push: true, network: 'none' } },
      { env: { BUILDKITE_JOB_ID: 'job-multiarch' } },
    );
    expectSuccess(run);
    expect(run.output).toContain('--platform linux/amd64,linux/arm64');
    // The engine's own BuildKit builds it: no per-job builder on the containerd store.
    expect(run.output).not.toContain('docker buildx create');

    const { digest, contentType, manifest: index } = await registryManifest(registry, repo, 'v1');
    expect(contentType).toBe('application/vnd.oci.image.index.v1+json');
    expect(run.result.metaData['buildkit.multiarch.digest']).toBe(digest);
    const images = platformManifests(index);
    expect(Object.keys(images).sort()).toEqual(platforms);
    expect(run.result.annotations['buildkit-multiarch']).toContain('Platforms: linux/amd64, linux/arm64');

    const expected: Record<string, { arch: string; uname: string; elfMachine: number }> = {
      'linux/amd64': { arch: 'amd64', uname: 'x86_64', elfMachine: 0x3e },
      'linux/arm64': { arch: 'arm64', uname: 'aarch64', elfMachine: 0xb7 },
    };
    for (const [platform, want] of Object.entries(expected)) {
      const { manifest } = await registryManifest(registry, repo, defined(images[platform], platform).digest);
      const config = JSON.parse((await registryBlob(registry, repo, manifest.config!.digest)).toString()) as { architecture: string };
      expect(config.architecture).toBe(want.arch);
      // /arch was written by `RUN uname -m` inside the build: for arm64 that RUN executed the
      // arm64 busybox, which only runs under QEMU on this x86_64 machine.
      expect((await fileInImage(registry, repo, manifest, 'arch'))?.toString()).toBe(`${want.uname}\n`);
      // And the busybox in the image is the one for the platform (COPY busybox-${TARGETARCH}).
      const busybox = await fileInImage(registry, repo, manifest, 'bin/busybox');
      expect(busybox?.readUInt16LE(18)).toBe(want.elfMachine);
    }
  });

  test('on the classic store with builder.driver: docker: the command hook fails with the documented message, nothing is pushed', async () => {
    const dir = checkout();
    const repo = `e2e/multiarch-classic-${Date.now()}`;
    const run = await runPipelineStep(
      dir,
      {
        key: 'multiarch-classic',
        command: 'touch ran',
        config: { image: `${registry}/${repo}`, platforms, push: true, network: 'none', builder: { driver: 'docker' } },
      },
      { env: { DOCKER_HOST: classicDockerHost(), BUILDKITE_JOB_ID: 'job-multiarch-classic' } },
    );
    expectClassicStoreRefusal(run, 'a multi-platform build');
    expect(await registryImage(registry, repo, 'latest')).toBeUndefined();
    expect(existsSync(join(dir, 'ran'))).toBe(false);
  });

  test('on the classic store with the default driver: the plan uses a per-job docker-container builder and says why', async () => {
    const dir = checkout();
    const repo = `e2e/multiarch-auto-${Date.now()}`;
    const run = await runPipelineStep(
      dir,
      { key: 'multiarch-auto', command: 'touch ran', config: { image: `${registry}/${repo}`, platforms, push: true, network: 'none', 'dry-run': true } },
      { env: { DOCKER_HOST: classicDockerHost(), BUILDKITE_JOB_ID: 'job-multiarch-auto' } },
    );
    expectSuccess(run);
    expect(run.output).toContain(
      "buildkit: using a per-job docker-container builder (buildkite-job-multiarch-auto): the engine's classic image store cannot do a multi-platform build",
    );
    const [create, build, remove, ...rest] = plannedCommands(run.output);
    expect(create).toBe('docker buildx create --name buildkite-job-multiarch-auto --driver docker-container --bootstrap');
    expect(build).toMatch(/^docker buildx build --progress plain --builder buildkite-job-multiarch-auto --platform linux\/amd64,linux\/arm64 /);
    expect(build).toContain(` --tag ${registry}/${repo}:latest `);
    expect(build).toContain(' --push ');
    expect(remove).toBe('docker buildx rm --force buildkite-job-multiarch-auto');
    expect(rest).toEqual([]);
    expect(await registryImage(registry, repo, 'latest')).toBeUndefined();
    expect(existsSync(join(dir, 'ran'))).toBe(false);
  });
});

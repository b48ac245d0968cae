import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Manifest,
  checkout,
  classicDockerHost,
  dockerAt,
  expectClassicStoreRefusal,
  expectSuccess,
  plannedCommands,
  runPipelineStep,
  tarMember,
  testRegistry,
} from './support';
import { defined } from '../support/defined';

jest.setTimeout(120_000);

testRegistry();
const engines = { containerd: process.env.DOCKER_HOST as string, classic: classicDockerHost() };
type Store = keyof typeof engines;
const appCheckout = checkout;

/** Build cache records of an engine: they grow only on the engine that really built. */
function buildCacheRecords(host: string): number {
  const line = dockerAt(host, ['system', 'df', '--format', '{{.Type}}={{.TotalCount}}'])
    .split('\n')
    .find((l) => l.startsWith('Build Cache='));
  return Number(line?.split('=')[1] ?? NaN);
}

describe.each(Object.keys(engines) as Store[])('on the %s image store', (store) => {
  const host = engines[store];
  const other = engines[store === 'classic' ? 'containerd' : 'classic'];

  test('type=local and type=tar outputs hold the files the build created', async () => {
    const dir = appCheckout();
    const greeting = `hello from ${store} ${Date.now()}`;
    const [before, otherBefore] = [buildCacheRecords(host), buildCacheRecords(other)];
    const run = await runPipelineStep(
      dir,
      {
        key: `outputs-${store}`,
        command: 'cat out/greeting > seen-by-command',
        config: {
          target: 'runtime',
          network: 'none',
          'build-args': { GREETING: greeting },
          outputs: ['type=local,dest=out', 'type=tar,dest=img.tar'],
        },
      },
      { env: { DOCKER_HOST: host, BUILDKITE_JOB_ID: `job-outputs-${store}` } },
    );
    expectSuccess(run);
    expect(run.output).toContain('--output type=local,dest=out --output type=tar,dest=img.tar');

    // /greeting was written by a RUN step of another stage and copied into runtime.
    expect(readFileSync(join(dir, 'out', 'greeting'), 'utf8')).toBe(`${greeting}\n`);
    expect(readFileSync(join(dir, 'out', 'bin', 'busybox')).equals(readFileSync('/bin/busybox'))).toBe(true);
    expect(tarMember(join(dir, 'img.tar'), 'greeting')?.toString()).toBe(`${greeting}\n`);
    expect(tarMember(join(dir, 'img.tar'), 'bin/busybox')?.length).toBe(readFileSync('/bin/busybox').length);
    // The step command ran after the build, in the checkout, and saw the exported files.
    expect(readFileSync(join(dir, 'seen-by-command'), 'utf8')).toBe(`${greeting}\n`);
    // And it was this engine that built (the DOCKER_HOST given to the job), not the other one.
    expect(buildCacheRecords(host)).toBeGreaterThan(before);
    expect(buildCacheRecords(other)).toBe(otherBefore);
  });

  test("load: true puts the image into this engine's `docker image ls`, without an attestation error", async () => {
    const dir = appCheckout();
    const repo = `e2e/load-${store}-${Date.now()}`;
    const greeting = `loaded on ${store}`;
    const run = await runPipelineStep(
      dir,
      {
        key: `load-${store}`,
        config: {
          image: repo,
          tags: ['t1'],
          load: true,
          target: 'runtime',
          network: 'none',
          'build-args': { GREETING: greeting },
          // Asked for, but a loaded image keeps none: the plugin must drop it rather than fail
          // (the classic store's docker driver rejects attestations).
          provenance: true,
        },
      },
      { env: { DOCKER_HOST: host, BUILDKITE_JOB_ID: `job-load-${store}` } },
    );
    expectSuccess(run);
    expect(run.output).toContain('buildkit: provenance/sbom: attestations are not kept when the image is loaded');
    expect(run.output).not.toMatch(/attestation.*not supported|not supported.*attestation/i);
    const build = run.output.split('\n').find((line) => line.startsWith('$ docker buildx build')) ?? '';
    expect(build).toContain('--load');
    expect(build).toContain('--provenance=false');
    expect(build).not.toContain('--builder');

    const listed = (h: string) => dockerAt(h, ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}']).split('\n');
    expect(listed(host)).toContain(`${repo}:t1`);
    expect(listed(other)).not.toContain(`${repo}:t1`);
    // The loaded image is the one built: its CMD prints the greeting a RUN step wrote.
    expect(dockerAt(host, ['run', '--rm', '--network', 'none', `${repo}:t1`])).toBe(`${greeting}\n`);
    expect(run.result.annotations[`buildkit-load-${store}`]).toContain(`${repo}:t1`);
  });
});

describe('type=oci output', () => {
  test('on the containerd store: a valid OCI layout whose blobs match their digests and hold the built files', async () => {
    const dir = appCheckout();
    const greeting = `oci ${Date.now()}`;
    const run = await runPipelineStep(
      dir,
      {
        key: 'oci',
        config: { target: 'runtime', network: 'none', 'build-args': { GREETING: greeting }, outputs: ['type=oci,dest=layout.tar'] },
      },
      { env: { BUILDKITE_JOB_ID: 'job-oci' } },
    );
    expectSuccess(run);
    // The containerd store's own docker driver exports OCI: no per-job builder.
    expect(run.output).not.toContain('docker buildx create');
    expect(run.output).not.toContain('--builder');

    const layout = join(dir, 'layout');
    mkdirSync(layout);
    execFileSync('tar', ['-xf', join(dir, 'layout.tar'), '-C', layout]);
    expect(JSON.parse(readFileSync(join(layout, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as Manifest & { schemaVersion: number };
    expect(index.schemaVersion).toBe(2);
    expect(index.manifests?.length).toBeGreaterThan(0);

    /** Reads a blob of the layout, checking that it exists and that its size and sha256 match the descriptor. */
    const blob = (d: { digest: string; size: number }): Buffer => {
      const [algorithm, hex] = d.digest.split(':');
      expect(algorithm).toBe('sha256');
      const path = join(layout, 'blobs', 'sha256', defined(hex, 'a digest'));
      expect(existsSync(path)).toBe(true);
      const bytes = readFileSync(path);
      expect(bytes.length).toBe(d.size);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(hex);
      return bytes;
    };
    // Walk every descriptor from index.json down: nested indexes, manifests, configs, layers.
    const images: Manifest[] = [];
    const walk = (manifest: Manifest) => {
      for (const d of manifest.manifests ?? []) {
        const child = JSON.parse(blob(d).toString()) as Manifest;
        if (d.platform?.os === 'unknown') {
          walk(child); // an attestation manifest: checked, not an image
        } else if (child.manifests) {
          walk(child);
        } else {
          images.push(child);
          walk(child);
        }
      }
      if (manifest.config) blob(manifest.config);
      for (const layer of manifest.layers ?? []) blob(layer);
    };
    walk(index);
    expect(images).toHaveLength(1);
    const image = defined(images[0], 'one image');
    const config = JSON.parse(blob(image.config!).toString()) as { architecture: string; config?: { Cmd?: string[] } };
    expect(config.architecture).toBe('amd64');
    expect(config.config?.Cmd).toEqual(['cat', '/greeting']);
    const greetingFile = [...(image.layers ?? [])]
      .reverse()
      .map((layer) => tarMember(blob(layer), 'greeting'))
      .find((f) => f !== undefined);
    expect(greetingFile?.toString()).toBe(`${greeting}\n`);
  });

  const classicConfig = { target: 'runtime', network: 'none', outputs: ['type=oci,dest=layout.tar'] };

  test('on the classic store: the plan builds it on a per-job docker-container builder', async () => {
    const dir = appCheckout();
    const run = await runPipelineStep(
      dir,
      { key: 'oci-classic', command: 'touch ran', config: { ...classicConfig, 'dry-run': true } },
      { env: { DOCKER_HOST: classicDockerHost(), BUILDKITE_JOB_ID: 'job-oci-classic' } },
    );
    expectSuccess(run);
    expect(run.output).toContain(
      "buildkit: using a per-job docker-container builder (buildkite-job-oci-classic): the engine's classic image store cannot do an OCI layout output",
    );
    const [create, build, remove, ...rest] = plannedCommands(run.output);
    expect(create).toBe('docker buildx create --name buildkite-job-oci-classic --driver docker-container --bootstrap');
    expect(build).toMatch(/^docker buildx build --progress plain --builder buildkite-job-oci-classic .*--output type=oci,dest=layout.tar /);
    expect(remove).toBe('docker buildx rm --force buildkite-job-oci-classic');
    expect(rest).toEqual([]);
    expect(existsSync(join(dir, 'layout.tar'))).toBe(false);
    expect(existsSync(join(dir, 'ran'))).toBe(false);
  });

  test('on the classic store with builder.driver: docker, the command hook fails naming both fixes', async () => {
    const dir = appCheckout();
    const run = await runPipelineStep(
      dir,
      { key: 'oci-classic-docker', command: 'touch ran', config: { ...classicConfig, builder: { driver: 'docker' } } },
      { env: { DOCKER_HOST: classicDockerHost(), BUILDKITE_JOB_ID: 'job-oci-classic-docker' } },
    );
    expectClassicStoreRefusal(run, 'an OCI layout output');
    expect(existsSync(join(dir, 'layout.tar'))).toBe(false);
    expect(existsSync(join(dir, 'ran'))).toBe(false);
  });
});

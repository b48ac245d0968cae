import { copyFileSync, cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectSuccess, fileInImage, platformManifests, registryImage, registryManifest, root, runPipelineStep, scratchDir, testRegistry } from './support';
import { defined } from '../support/defined';

jest.setTimeout(180_000);

const registry = testRegistry();
const uid = process.getuid?.() ?? 0;

/** A fresh checkout of tests/fixtures/bake (docker-bake.hcl + Dockerfile) with a static busybox. */
function bakeCheckout(): string {
  const dir = scratchDir('buildkit-e2e-bake-');
  cpSync(join(root, 'tests', 'fixtures', 'bake'), dir, { recursive: true });
  copyFileSync(process.env.BUILDKIT_TEST_BUSYBOX ?? '/bin/busybox', join(dir, 'busybox'));
  return dir;
}

/** A file of repo:tag's image (the linux one of its index). */
async function fileOf(repo: string, tag: string, member: string): Promise<string | undefined> {
  const { manifest: index } = await registryManifest(registry, repo, tag);
  const image = platformManifests(index)['linux/amd64'] ?? Object.values(platformManifests(index))[0];
  const { manifest } = await registryManifest(registry, repo, defined(image, 'an image in the index').digest);
  return (await fileInImage(registry, repo, manifest, member))?.toString();
}

describe('bake, run as an agent would, on a real engine and registry', () => {
  test('builds and pushes both targets; per-target meta-data, BUILDKIT_IMAGE_REFS and the annotation match what the registry serves; bake.set applies', async () => {
    const dir = bakeCheckout();
    const repo = `e2e/bake-${Date.now()}`;
    const app = `${registry}/${repo}/app:7`;
    const worker = [`${registry}/${repo}/worker:7`, `${registry}/${repo}/worker:latest`];
    const run = await runPipelineStep(
      dir,
      {
        key: 'images',
        label: ':docker: bake',
        command: 'echo "$$BUILDKIT_IMAGE_REFS" > seen-refs; echo "$$BUILDKIT_IMAGE_DIGEST" > seen-digest',
        config: { bake: { files: ['docker-bake.hcl'], targets: ['app', 'worker'], set: ['app.args.GREETING=hey'] }, push: true },
      },
      // The bake file's variable blocks read these from the job's environment.
      { env: { REGISTRY: registry, REPO: repo, TAG: '7', BUILDKITE_JOB_ID: 'job-bake' } },
    );
    expect(run.output).toContain('--- :docker: Baking app, worker');
    expectSuccess(run);

    const meta = run.result.metaData;
    const appDigest = meta['buildkit.images.app.digest'];
    const workerDigest = meta['buildkit.images.worker.digest'];
    expect(appDigest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(workerDigest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(workerDigest).not.toBe(appDigest);
    expect((await registryImage(registry, `${repo}/app`, '7'))?.digest).toBe(appDigest);
    expect((await registryImage(registry, `${repo}/worker`, '7'))?.digest).toBe(workerDigest);
    expect((await registryImage(registry, `${repo}/worker`, 'latest'))?.digest).toBe(workerDigest);
    expect(meta['buildkit.images.app.image-refs']).toBe(app);
    expect(meta['buildkit.images.worker.image-refs']).toBe(worker.join(' '));
    expect(meta['buildkit.images.image-refs']).toBe([app, ...worker].join(' '));
    expect(meta['buildkit.images.digest']).toBe(appDigest);

    expect(readFileSync(join(dir, 'seen-refs'), 'utf8').trim().split(' ').sort()).toEqual([app, ...worker].sort());
    expect(readFileSync(join(dir, 'seen-digest'), 'utf8').trim()).toBe(appDigest);

    const annotation = run.result.annotations['buildkit-images'];
    expect(annotation).toContain(`- target \`app\`: \`${app}\` (\`${appDigest}\`)`);
    expect(annotation).toContain(`- target \`worker\`: ${worker.map((r) => `\`${r}\``).join(', ')} (\`${workerDigest}\`)`);
    expect(run.output).toContain('annotate --style success --context buildkit-images');

    // bake.set reached the app target only; the plugin's OCI labels reached both.
    expect(await fileOf(`${repo}/app`, '7', 'greeting')).toBe('hey\n');
    expect(await fileOf(`${repo}/worker`, '7', 'role')).toBe('worker\n');
    for (const target of ['app', 'worker']) {
      const labels = (await registryImage(registry, `${repo}/${target}`, '7'))?.config.config?.Labels ?? {};
      expect(labels['org.opencontainers.image.created']).toMatch(/^\d{4}-\d\d-\d\dT/);
    }
    expect(existsSync(join(dir, `buildkite-plugin-buildkit-${uid}`, 'job-bake'))).toBe(false);
  });

  test('image: next to bake fails the configuration before anything is built', async () => {
    const dir = bakeCheckout();
    const repo = `e2e/bake-image-${Date.now()}`;
    const run = await runPipelineStep(
      dir,
      { key: 'bakeimage', command: 'touch ran', config: { bake: { targets: ['app'] }, image: `${registry}/${repo}`, push: true } },
      { env: { REGISTRY: registry, REPO: repo, BUILDKITE_JOB_ID: 'job-bake-image' } },
    );
    expect(run.code).toBe(1);
    expect(run.output).toContain('image: describes a single build; with bake, set it in the bake file or with bake.set');
    expect(run.result.hookMs.command).toBeUndefined();
    expect(run.output).not.toContain(':docker: Baking');
    expect(existsSync(join(dir, 'ran'))).toBe(false);
    expect(await registryImage(registry, `${repo}/app`, 'dev')).toBeUndefined();
  });
});

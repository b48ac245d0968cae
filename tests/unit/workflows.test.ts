import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pluginEnv } from '../../src/cli/plugin-env';
import { buildWritesMetadata, commandHook } from '../support/command-hook';
import { fakeRuntime } from '../support/fake-runtime';
import { loadConfig } from '../../src/config/load-config';
import { Facts } from '../../src/engines/engine';
import { planBuildRequest } from '../../src/plan/build-request';
import { planJob } from '../../src/plan/plan';

const image = 'registry.example.com/team/app';
const env = { BUILDKITE_JOB_ID: '0190-ab' };

function load(config: Record<string, unknown>, form: 'json' | 'flattened' = 'json') {
  return loadConfig({ PATH: '/usr/bin', ...pluginEnv('buildkit#v1', { 'oci-labels': false, ...config }, form) });
}
const errorsOf = (config: Record<string, unknown>) => {
  const loaded = loadConfig({ PATH: '/usr/bin', ...pluginEnv('buildkit#v1', config, 'json') });
  return loaded.ok ? [] : loaded.errors;
};
function argvFor(config: Record<string, unknown>, facts: Facts = { dockerCli: true }): string[] {
  const loaded = load(config);
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  return planJob(loaded.config, planBuildRequest(loaded.config, env, '/state', new Date(0)), env, facts).build.argv;
}
const outputOf = (argv: string[]) => argv[argv.indexOf('--output') + 1];

describe('push-by-digest', () => {
  const byDigest = `type=image,name=${image},push-by-digest=true,name-canonical=true,push=true`;

  test('a builder that can pushes by digest alone: buildx docker-container, remote, and buildctl', () => {
    const container = argvFor({ image, 'push-by-digest': true, builder: { driver: 'docker-container' } });
    expect(outputOf(container)).toBe(byDigest);
    expect(container).not.toContain('--tag');
    const buildctl = argvFor({ image, 'push-by-digest': true, builder: { endpoint: 'tcp://builder:1234', client: 'buildctl' } });
    expect(outputOf(buildctl)).toBe(byDigest);
  });

  test("buildx's docker driver, which refuses it, pushes the job's own tag", () => {
    const argv = argvFor({ image, 'push-by-digest': true, builder: { driver: 'docker' } });
    expect(argv).toEqual(expect.arrayContaining(['--tag', `${image}:buildkite-0190-ab`, '--push']));
    expect(argv).not.toContain('--output');
  });

  test('refused with tags, without a bare image, in both forms', () => {
    for (const form of ['json', 'flattened'] as const) {
      const loaded = load({ image, tags: ['1'], 'push-by-digest': true }, form);
      expect(loaded.ok ? [] : loaded.errors).toEqual([
        'tags: a push-by-digest step pushes its image by digest alone; tag it in the merge step (merge: { steps: [...] })',
      ]);
    }
    expect(errorsOf({ 'push-by-digest': true })).toContain('push-by-digest: the image is pushed by digest into image; set image to a repository without a tag');
  });
});

describe('merge: the option', () => {
  test('steps and platforms; refusals name the option', () => {
    const loaded = loadConfig({
      PATH: '/usr/bin',
      ...pluginEnv('buildkit#v1', { image, tags: ['1'], merge: { steps: ['amd', 'arm'], platforms: 'linux/amd64,linux/arm64' } }, 'json'),
    });
    expect(loaded.ok && loaded.config.merge).toEqual({ steps: ['amd', 'arm'], platforms: ['linux/amd64', 'linux/arm64'] });
    expect(loaded.ok && loaded.config.push).toBe(true);
    expect(errorsOf({ image, merge: { steps: ['amd', 'amd'] } })).toEqual(['merge.steps: a step is named twice']);
    expect(errorsOf({ image, merge: { steps: ['amd'], platforms: ['amd64'] } })).toEqual([
      'merge.platforms[0]: expected os/arch[/variant] such as linux/arm64; got "amd64"',
    ]);
    expect(errorsOf({ image, merge: { steps: ['a'] }, platforms: ['linux/amd64'] })).toEqual([
      'platforms: a merge step builds nothing; build in the steps merge.steps names',
    ]);
    expect(errorsOf({ image, merge: {} })).toEqual(['merge.steps: is required']);
  });
});

describe('artifacts: true', () => {
  test('uploads what the file outputs wrote and links it in the annotation; refused without such an output', async () => {
    let checkout = '';
    const fake = fakeRuntime((argv, options) => {
      if (argv.includes('build')) {
        checkout = String(options.env?.BUILDKITE_BUILD_CHECKOUT_PATH);
        mkdirSync(join(checkout, 'dist', 'bin'), { recursive: true });
        writeFileSync(join(checkout, 'dist', 'bin', 'app'), 'binary');
        writeFileSync(join(checkout, 'dist', 'sbom.spdx.json'), '{}');
        writeFileSync(join(checkout, 'image.tar'), 'tar');
      }
      return buildWritesMetadata(argv);
    });
    const job = await commandHook({ outputs: ['type=local,dest=dist', 'type=oci,dest=image.tar'], artifacts: true }, fake);
    expect(job.code).toBe(0);
    expect(fake.artifacts).toEqual(['dist/**/*', 'image.tar']);
    expect(job.annotations[0]?.body).toContain(
      'Artifacts: [dist/sbom.spdx.json](artifact://dist/sbom.spdx.json), [dist/bin/app](artifact://dist/bin/app), [image.tar](artifact://image.tar)',
    );
    expect(errorsOf({ image, push: true, artifacts: true })).toEqual([
      'artifacts: there is nothing to upload; add an output that writes files, such as type=local,dest=dist or type=oci,dest=image.tar',
    ]);
  });
});

describe('timeout', () => {
  test('the build step gets the time limit; bad values name the option', () => {
    const loaded = load({ image, timeout: '1h30m' });
    if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
    const plan = planJob(loaded.config, planBuildRequest(loaded.config, env, '/state', new Date(0)), env, { dockerCli: true });
    expect(plan.build.timeoutMs).toBe(5400_000);
    expect(plan.setup.every((step) => step.timeoutMs === undefined || step.timeoutMs < 5400_000)).toBe(true);
    expect(errorsOf({ image, timeout: 'soon' })).toEqual(['timeout: expected a duration of at least 1s, such as 1800, 30m or 1h30m; got "soon"']);
    expect(errorsOf({ image, timeout: 0 })).toHaveLength(1);
  });
});

import { pluginEnv } from '../../src/cli/plugin-env';
import { loadConfig } from '../../src/config/load-config';
import { Facts } from '../../src/engines/engine';
import { planBuildRequest } from '../../src/plan/build-request';
import { planJob } from '../../src/plan/plan';
import { buildWritesMetadata, commandHook } from '../support/command-hook';
import { fakeRuntime } from '../support/fake-runtime';

const stateDir = '/state/job';
const now = new Date('2026-01-02T03:04:05Z');
/** The commit time: 2023-11-14T22:13:20Z. */
const commit = new Date(1_700_000_000 * 1000);
const epochArg = 'SOURCE_DATE_EPOCH=1700000000';
const env = { BUILDKITE_JOB_ID: 'job-1' };

function load(config: Record<string, unknown>) {
  const loaded = loadConfig(pluginEnv('buildkit#v1', { 'oci-labels': false, ...config }, 'json'));
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  return loaded.config;
}

function planFor(config: Record<string, unknown>, facts: Facts = {}, commitTime: Date | undefined = commit) {
  const loaded = load(config);
  return planJob(loaded, planBuildRequest(loaded, env, stateDir, now, commitTime), env, { dockerCli: true, ...facts });
}

const app = { image: 'r/app', tags: ['1'], push: true, reproducible: true };

describe('reproducible: the argv of each engine', () => {
  test('buildx docker-container: SOURCE_DATE_EPOCH as a build arg, --push spelt out as a registry output with rewrite-timestamp', () => {
    const plan = planFor({ ...app, builder: { driver: 'docker-container' } });
    expect(plan.engine.name).toBe('docker-container');
    const { argv } = plan.build;
    expect(argv).toEqual(expect.arrayContaining(['--build-arg', epochArg]));
    expect(argv.join(' ')).toContain('--tag r/app:1 --output type=registry,rewrite-timestamp=true');
    expect(argv).not.toContain('--push');
    expect(argv).toContain('--provenance=false');
    expect(plan.warnings).toEqual([]);
  });

  test('buildx: push and load are two outputs, each rewriting timestamps; explicit outputs keep their attributes', () => {
    const both = planFor({ ...app, load: true, builder: { driver: 'docker-container' } }).build.argv.join(' ');
    expect(both).toContain('--output type=registry,rewrite-timestamp=true --output type=docker,rewrite-timestamp=true');
    const explicit = planFor({
      reproducible: true,
      outputs: ['type=oci,dest=out.tar', 'type=local,dest=out', 'type=image,name=r/x,push=true,rewrite-timestamp=false'],
      builder: { driver: 'docker-container' },
    }).build.argv;
    expect(explicit).toEqual(
      expect.arrayContaining([
        '--output',
        'type=oci,dest=out.tar,rewrite-timestamp=true',
        '--output',
        'type=local,dest=out',
        '--output',
        'type=image,name=r/x,push=true,rewrite-timestamp=true',
      ]),
    );
  });

  test('buildctl remote: --opt build-arg:SOURCE_DATE_EPOCH and rewrite-timestamp on the image output', () => {
    const plan = planFor({ ...app, builder: { endpoint: 'tcp://builder:1234', client: 'buildctl' } });
    expect(plan.engine.name).toBe('buildctl-remote');
    const { argv } = plan.build;
    expect(argv).toEqual(expect.arrayContaining(['--opt', `build-arg:${epochArg}`]));
    expect(argv).toEqual(expect.arrayContaining(['--output', 'type=image,name=r/app:1,rewrite-timestamp=true,push=true']));
    // No provenance by default: it records the build's start time and id.
    expect(argv.join(' ')).not.toContain('attest:provenance');
  });

  test('buildctl: a loaded image (type=docker) rewrites timestamps too', () => {
    const { argv } = planFor({ image: 'r/app', reproducible: true, load: true, builder: { endpoint: 'tcp://builder:1234', client: 'buildctl' } }).build;
    expect(argv).toEqual(expect.arrayContaining(['--output', 'type=docker,name=r/app:latest,rewrite-timestamp=true,dest=/state/job/load.tar']));
  });

  test('the Docker engine (containerd store), builder.driver auto: a per-job docker-container builder, saying why', () => {
    const plan = planFor(app, { imageStore: 'containerd' });
    expect(plan.engine.name).toBe('docker-container');
    expect(plan.notices.join('\n')).toContain(
      "using a per-job docker-container builder (buildkite-job-1): the engine's own BuildKit cannot rewrite layer timestamps (reproducible: rewrite-timestamp conflicts with unpack)",
    );
    expect(plan.setup.map((step) => step.argv.slice(0, 7).join(' '))).toContain('docker buildx create --name buildkite-job-1 --driver docker-container');
    expect(plan.build.argv.join(' ')).toContain('--builder buildkite-job-1');
    expect(plan.build.argv.join(' ')).toContain('--output type=registry,rewrite-timestamp=true');
  });

  test('the Docker engine with builder.driver docker: builds there with a warning, SOURCE_DATE_EPOCH only, no rewrite-timestamp', () => {
    const plan = planFor({ ...app, builder: { driver: 'docker' } }, { imageStore: 'containerd' });
    expect(plan.engine.name).toBe('docker');
    expect(plan.warnings).toEqual([
      "reproducible: the Docker engine's own BuildKit cannot rewrite layer timestamps (rewrite-timestamp conflicts with unpacking into its image store): " +
        "only the image config's timestamps are fixed (SOURCE_DATE_EPOCH=1700000000), and the digest may differ from build to build; " +
        'let the plugin use a per-job builder (builder.driver: auto or docker-container) for byte-identical images',
    ]);
    const { argv } = plan.build;
    expect(argv).toEqual(expect.arrayContaining(['--build-arg', epochArg, '--push']));
    expect(argv.join(' ')).not.toContain('rewrite-timestamp');
    expect(argv).not.toContain('--output');
  });

  test('without reproducible nothing changes: --push, no SOURCE_DATE_EPOCH, the Docker engine', () => {
    const plan = planFor({ image: 'r/app', tags: ['1'], push: true }, { imageStore: 'containerd' });
    expect(plan.engine.name).toBe('docker');
    expect(plan.build.argv).toContain('--push');
    expect(plan.build.argv.join(' ')).not.toMatch(/SOURCE_DATE_EPOCH|rewrite-timestamp/);
    expect(plan.request.rewriteTimestamp).toBe(false);
    expect(plan.request.sourceDateEpoch).toBeUndefined();
  });
});

describe('reproducible: the created label', () => {
  const buildEnv = { BUILDKITE_BUILD_URL: 'https://buildkite.com/org/p/builds/7', BUILDKITE_COMMIT: 'abc123' };
  const labelsOf = (config: Record<string, unknown>, commitTime?: Date) => {
    const loaded = load({ ...config, 'oci-labels': true, builder: { driver: 'docker-container' } });
    return planBuildRequest(loaded, buildEnv, stateDir, now, commitTime).request.labels;
  };

  test('is the commit time when reproducible, and the build URL (new in every build) is left out', () => {
    expect(labelsOf(app, commit)).toEqual([
      { key: 'org.opencontainers.image.revision', value: 'abc123' },
      { key: 'org.opencontainers.image.created', value: '2023-11-14T22:13:20.000Z' },
    ]);
  });

  test('is the clock without it, with the build URL', () => {
    expect(labelsOf({ image: 'r/app', push: true }, commit)).toEqual([
      { key: 'org.opencontainers.image.revision', value: 'abc123' },
      { key: 'org.opencontainers.image.created', value: now.toISOString() },
      { key: 'com.buildkite.build-url', value: buildEnv.BUILDKITE_BUILD_URL },
    ]);
  });
});

describe('reproducible: attestations', () => {
  test('no provenance unless asked for; asked for, a notice that the index differs', () => {
    expect(planFor(app).request.provenance).toEqual({ enabled: false });
    const asked = planFor({ ...app, provenance: 'mode=max', builder: { driver: 'docker-container' } });
    expect(asked.build.argv).toContain('--provenance=mode=max');
    expect(asked.notices).toContain(
      "reproducible: provenance records the build's start time and id, so the index carrying it differs from build to build (the image manifest does not)",
    );
  });
});

describe('reproducible: the configuration', () => {
  test('refuses SOURCE_DATE_EPOCH in build-args too', () => {
    const loaded = loadConfig(pluginEnv('buildkit#v1', { reproducible: true, 'build-args': { SOURCE_DATE_EPOCH: '1' } }, 'json'));
    expect(loaded.ok || loaded.errors).toEqual(['build-args: SOURCE_DATE_EPOCH is set by reproducible: true (the commit time); remove one of them']);
  });

  test('refuses a non-boolean value and bake', () => {
    const wrong = loadConfig(pluginEnv('buildkit#v1', { reproducible: 'yes' }, 'json'));
    expect(wrong.ok || wrong.errors).toEqual(['reproducible: expected a boolean, got string "yes"']);
    const bake = loadConfig(pluginEnv('buildkit#v1', { reproducible: true, bake: { files: ['b.hcl'] } }, 'json'));
    expect(bake.ok || bake.errors.join('\n')).toContain('reproducible: describes a single build; with bake');
  });
});

describe('reproducible: the command hook reads the commit time', () => {
  const gitSays = (result: { code?: number; stdout?: string; stderr?: string }) =>
    fakeRuntime((argv) => (argv[0] === 'git' ? { code: 0, stdout: '', stderr: '', ...result } : buildWritesMetadata(argv)));

  test('from git log in the checkout, passed to the build', async () => {
    const fake = gitSays({ stdout: '1700000000\n' });
    const hook = await commandHook({ ...app, builder: { driver: 'docker-container' } }, fake);
    expect(hook.code).toBe(0);
    expect(fake.calls[0]?.argv).toEqual(['git', 'log', '-1', '--format=%ct', 'HEAD']);
    const build = fake.calls.find((call) => call.argv.includes('build'));
    expect(build?.argv).toEqual(expect.arrayContaining(['--build-arg', epochArg, '--output', 'type=registry,rewrite-timestamp=true']));
  });

  test('fails with a clear message naming the option when there is no commit', async () => {
    const fake = gitSays({ code: 128, stderr: "fatal: your current branch 'main' does not have any commits yet\n" });
    await expect(commandHook(app, fake)).rejects.toThrow(
      /^reproducible: SOURCE_DATE_EPOCH is the commit time, but `git log -1 --format=%ct HEAD` in the checkout \(.*\) failed: it exited 128: fatal: your current branch 'main' does not have any commits yet\. Build from a git checkout of the commit \(with git on PATH\), or remove reproducible: true$/,
    );
    expect(fake.calls.map((call) => call.argv[0])).toEqual(['git']);
  });

  test('fails when git is not on PATH', async () => {
    await expect(commandHook(app, gitSays({ code: 127 }))).rejects.toThrow(/failed: git is not on PATH\./);
  });

  test('is not read without reproducible', async () => {
    const fake = gitSays({ code: 128 });
    const hook = await commandHook({ image: 'r/app', push: true }, fake);
    expect(hook.code).toBe(0);
    expect(fake.calls.some((call) => call.argv[0] === 'git')).toBe(false);
  });
});

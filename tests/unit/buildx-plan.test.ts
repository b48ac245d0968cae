import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readBuildMetadata } from '../../src/report/build-metadata';
import { scratchDir } from '../support/scratch';
import { pluginEnv } from '../../src/cli/plugin-env';
import { loadConfig } from '../../src/config/load-config';
import { Facts } from '../../src/engines/engine';
import { planBuildRequest } from '../../src/plan/build-request';
import { planJob } from '../../src/plan/plan';
import { versionWarnings } from '../../src/plan/version-warnings';

const stateDir = '/state/job';
const now = new Date('2026-01-02T03:04:05Z');
const meta = ['--metadata-file', `${stateDir}/build-metadata.json`];

/** The plan, its notices (configuration's first) and version warnings, as the command hook makes them. */
function planWith(config: Record<string, unknown>, env: Record<string, string> = {}, facts: Facts = {}) {
  const loaded = loadConfig(pluginEnv('buildkit#v1', config, 'json'));
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const allFacts = { dockerCli: true, ...facts };
  const plan = planJob(loaded.config, planBuildRequest(loaded.config, env, stateDir, now), env, allFacts);
  const warnings = versionWarnings(plan.request, { buildx: allFacts.buildxVersion, buildkit: plan.buildkitVersion });
  return { ...plan, notices: [...loaded.notices, ...plan.notices], warnings };
}

/** Plans with automatic OCI labels off unless the case is about them. */
function planFor(config: Record<string, unknown>, env: Record<string, string> = {}, facts: Facts = {}) {
  return planWith({ 'oci-labels': false, ...config }, env, facts);
}

const setupArgv = (plan: { setup: Array<{ argv: string[] }> }) => plan.setup.map((step) => step.argv);

function argvFor(config: Record<string, unknown>, env: Record<string, string> = {}): string[] {
  return planFor(config, env).build.argv;
}

describe('docker buildx build argv, option by option', () => {
  test.each<[string, Record<string, unknown>, string[]]>([
    ['defaults', {}, [...meta, '.']],
    ['context', { context: 'app' }, [...meta, 'app']],
    ['context starting with a dash', { context: '-weird' }, [...meta, './-weird']],
    ['dockerfile', { dockerfile: 'docker/Dockerfile.prod' }, ['--file', 'docker/Dockerfile.prod', ...meta, '.']],
    ['target', { target: 'runtime' }, ['--target', 'runtime', ...meta, '.']],
    [
      'build-args map',
      { 'build-args': { GREETING: 'hi', N: 2, ON: true } },
      ['--build-arg', 'GREETING=hi', '--build-arg', 'N=2', '--build-arg', 'ON=true', ...meta, '.'],
    ],
    ['build-args list', { 'build-args': ['A=1', 'B=x=y'] }, ['--build-arg', 'A=1', '--build-arg', 'B=x=y', ...meta, '.']],
    ['labels map', { labels: { 'org.example.team': 'core' } }, ['--label', 'org.example.team=core', ...meta, '.']],
    ['labels list', { labels: ['a=b c'] }, ['--label', 'a=b c', ...meta, '.']],
    ['network', { network: 'none' }, ['--network', 'none', ...meta, '.']],
    ['image alone is :latest', { image: 'registry.example.com/app' }, ['--tag', 'registry.example.com/app:latest', ...meta, '.']],
    ['image with a tag', { image: 'registry.example.com/app:1.0' }, ['--tag', 'registry.example.com/app:1.0', ...meta, '.']],
    [
      'bare tags appended, full refs kept, duplicates dropped',
      { image: '127.0.0.1:5000/hello', tags: ['7', 'latest', 'mirror.example.com/hello:7', 'latest'] },
      ['--tag', '127.0.0.1:5000/hello:7', '--tag', '127.0.0.1:5000/hello:latest', '--tag', 'mirror.example.com/hello:7', ...meta, '.'],
    ],
    [
      'branch names sanitised',
      { image: 'r/app', tags: ['feature/Login#2', '.hidden'] },
      ['--tag', 'r/app:feature-Login-2', '--tag', 'r/app:hidden', ...meta, '.'],
    ],
    ['push', { image: 'r/app', push: true }, ['--tag', 'r/app:latest', '--push', ...meta, '.']],
    ['no-cache', { 'no-cache': true }, ['--no-cache', ...meta, '.']],
    ['progress', { progress: 'rawjson' }, [...meta, '.']],
    ['platforms list', { platforms: ['linux/amd64', 'linux/arm64'] }, ['--platform', 'linux/amd64,linux/arm64', ...meta, '.']],
    ['platforms string', { platforms: 'linux/amd64, linux/arm64' }, ['--platform', 'linux/amd64,linux/arm64', ...meta, '.']],
    ['load', { load: true }, ['--load', '--provenance=false', '--sbom=false', ...meta, '.']],
    // The engine's own BuildKit stores a pushed image in its store: --load too fails on the containerd store ("already exists").
    ['push and load', { image: 'r/app', push: true, load: true }, ['--tag', 'r/app:latest', '--push', '--provenance=false', '--sbom=false', ...meta, '.']],
    ['pull', { pull: true }, ['--pull', ...meta, '.']],
    [
      'build-contexts',
      { 'build-contexts': { base: 'docker-image://alpine:3', src: '../src' } },
      ['--build-context', 'base=docker-image://alpine:3', '--build-context', 'src=../src', ...meta, '.'],
    ],
    [
      'annotations',
      { annotations: ['index:org.opencontainers.image.description=multi, arch'] },
      ['--annotation', 'index:org.opencontainers.image.description=multi, arch', ...meta, '.'],
    ],
    ['shm-size', { 'shm-size': '2g' }, ['--shm-size', '2g', ...meta, '.']],
    ['add-hosts', { 'add-hosts': ['db:127.0.0.1', 'cache:127.0.0.2'] }, ['--add-host', 'db:127.0.0.1', '--add-host', 'cache:127.0.0.2', ...meta, '.']],
    ['ulimit', { ulimit: 'nofile=1024:1024' }, ['--ulimit', 'nofile=1024:1024', ...meta, '.']],
    ['provenance false', { provenance: false }, ['--provenance=false', ...meta, '.']],
    ['provenance attributes', { provenance: 'mode=max' }, ['--provenance=mode=max', ...meta, '.']],
    ['sbom true', { sbom: true }, ['--sbom=true', ...meta, '.']],
    ['outputs: one local spec, kept whole', { outputs: ['type=local,dest=out'] }, ['--output', 'type=local,dest=out', ...meta, '.']],
    [
      'outputs string: one spec per line',
      { outputs: 'type=local,"dest=a,b"\ntype=tar,dest=img.tar' },
      ['--output', 'type=local,"dest=a,b"', '--output', 'type=tar,dest=img.tar', ...meta, '.'],
    ],
    ['outputs: a path alone is a local dest, as buildx reads -o', { outputs: ['dist'] }, ['--output', 'type=local,dest=dist', ...meta, '.']],
    [
      'outputs: quotes inside a field are written back the way buildx reads them',
      { outputs: ['type=tar,"dest=say ""hi"".tar"'] },
      ['--output', 'type=tar,"dest=say ""hi"".tar"', ...meta, '.'],
    ],
    [
      'outputs + push marks the image output',
      { image: 'r/app', push: true, outputs: ['type=image,compression=zstd'] },
      ['--tag', 'r/app:latest', '--output', 'type=image,compression=zstd,push=true', ...meta, '.'],
    ],
    [
      'outputs + push adds a registry output; + load adds a docker one',
      { image: 'r/app', push: true, load: true, outputs: ['type=local,dest=out'] },
      [
        '--tag',
        'r/app:latest',
        '--output',
        'type=local,dest=out',
        '--output',
        'type=registry',
        '--output',
        'type=docker',
        '--provenance=false',
        '--sbom=false',
        ...meta,
        '.',
      ],
    ],
    [
      'an explicit push=false on the image output is kept',
      { image: 'r/app', push: true, outputs: ['type=image,push=false'] },
      ['--tag', 'r/app:latest', '--output', 'type=image,push=false', ...meta, '.'],
    ],
  ])('%s', (_name, config, tail) => {
    const progress = (config.progress as string) ?? 'plain';
    expect(argvFor(config)).toEqual(['docker', 'buildx', 'build', '--progress', progress, ...tail]);
  });

  test('options come out in a fixed order', () => {
    expect(
      argvFor({
        image: 'r/app',
        tags: ['1'],
        push: true,
        'no-cache': true,
        target: 't',
        dockerfile: 'D',
        'build-args': { A: '1' },
        labels: { L: '2' },
        network: 'host',
        context: 'c',
      }),
    ).toEqual([
      'docker',
      'buildx',
      'build',
      '--progress',
      'plain',
      '--file',
      'D',
      '--target',
      't',
      '--build-arg',
      'A=1',
      '--label',
      'L=2',
      '--network',
      'host',
      '--tag',
      'r/app:1',
      '--push',
      '--no-cache',
      ...meta,
      'c',
    ]);
  });

  test('a bare build-arg takes its value from the job environment, or is left out with a notice', () => {
    const plan = planFor({ 'build-args': ['TOKENLESS', 'MISSING'] }, { TOKENLESS: 'from env' });
    expect(plan.build.argv).toContain('TOKENLESS=from env');
    expect(plan.build.argv.join(' ')).not.toContain('MISSING');
    expect(plan.notices).toEqual(['build-args: MISSING is not set in the environment; not passed']);
  });

  test('shell metacharacters stay single argv words', () => {
    const value = `$(touch /tmp/pwned) \`id\` "q" 'q'; rm -rf /`;
    const argv = argvFor({ 'build-args': { EVIL: value }, labels: { evil: value } });
    expect(argv).toContain(`EVIL=${value}`);
    expect(argv).toContain(`evil=${value}`);
  });

  test('sanitised tags are announced', () => {
    expect(planFor({ image: 'r/app', tags: ['feature/x'] }).notices).toEqual(['tags[0]: "feature/x" is not a valid tag; using "feature-x"']);
  });

  test('a pushing output counts as a push (for retries and the report)', () => {
    expect(planFor({ image: 'r/a', outputs: ['type=image,push=true'] }).request.pushes).toBe(true);
    expect(planFor({ image: 'r/a', outputs: ['type=registry'] }).request.pushes).toBe(true);
    expect(planFor({ image: 'r/a', outputs: ['type=image,push=false', 'type=local,dest=x'] }).request.pushes).toBe(false);
  });

  test('loading drops requested attestations with a notice', () => {
    const plan = planFor({ load: true, provenance: 'mode=max', sbom: true });
    expect(plan.build.argv).toEqual(expect.arrayContaining(['--provenance=false', '--sbom=false']));
    expect(plan.notices).toContain('provenance/sbom: attestations are not kept when the image is loaded into the engine; building without them');
  });
});

describe('automatic OCI labels', () => {
  const env = {
    BUILDKITE_REPO: 'https://x-token:secret@github.com/acme/app.git',
    BUILDKITE_COMMIT: 'abc123',
    BUILDKITE_BUILD_URL: 'https://buildkite.com/acme/app/builds/7',
  };
  const labelsOf = (argv: string[]) => argv.flatMap((arg, i) => (argv[i - 1] === '--label' ? [arg] : []));

  test('source (credentials stripped), revision, created and build URL', () => {
    expect(labelsOf(planFor({ 'oci-labels': true }, env).build.argv)).toEqual([
      'org.opencontainers.image.source=https://github.com/acme/app',
      'org.opencontainers.image.revision=abc123',
      'org.opencontainers.image.created=2026-01-02T03:04:05.000Z',
      'com.buildkite.build-url=https://buildkite.com/acme/app/builds/7',
    ]);
  });

  test('an scp-style repo becomes an https URL; user labels win', () => {
    const argv = planFor(
      { 'oci-labels': true, labels: { 'org.opencontainers.image.revision': 'mine' } },
      { ...env, BUILDKITE_REPO: 'git@github.com:acme/app.git' },
    ).build.argv;
    expect(labelsOf(argv)).toEqual([
      'org.opencontainers.image.source=https://github.com/acme/app',
      'org.opencontainers.image.created=2026-01-02T03:04:05.000Z',
      'com.buildkite.build-url=https://buildkite.com/acme/app/builds/7',
      'org.opencontainers.image.revision=mine',
    ]);
  });

  test('on by default, off with oci-labels: false', () => {
    expect(labelsOf(planWith({}, env).build.argv)).toHaveLength(4);
    expect(labelsOf(planFor({}, env).build.argv)).toEqual([]);
  });
});

describe('builder choice by image store', () => {
  const jobEnv = { BUILDKITE_JOB_ID: '0190-abc' };
  const container = (name: string) => ['docker', 'buildx', 'create', '--name', name, '--driver', 'docker-container', '--bootstrap'];

  test('containerd store: the docker driver builds several platforms itself', () => {
    const plan = planFor({ platforms: ['linux/amd64', 'linux/arm64'] }, jobEnv, { imageStore: 'containerd' as const });
    expect(plan.engine.name).toBe('docker');
    expect(plan.setup).toEqual([]);
    expect(plan.cleanups).toEqual([]);
    expect(plan.build.argv).not.toContain('--builder');
  });

  test('classic store + several platforms: a per-job docker-container builder, with a notice', () => {
    const plan = planFor({ platforms: ['linux/amd64', 'linux/arm64'] }, jobEnv, { imageStore: 'classic' as const });
    const remove = ['docker', 'buildx', 'rm', '--force', 'buildkite-0190-abc'];
    expect(plan.engine.name).toBe('docker-container');
    // A builder of the same name left by a crashed job is removed first; pre-exit removes this one.
    expect(setupArgv(plan)).toEqual([remove, container('buildkite-0190-abc')]);
    expect(plan.setup[0]).toMatchObject({ quiet: true, cleanup: { argv: remove } });
    expect(plan.cleanups).toEqual([{ argv: remove, title: 'removing builder buildkite-0190-abc' }]);
    expect(plan.build.argv.slice(0, 7)).toEqual(['docker', 'buildx', 'build', '--progress', 'plain', '--builder', 'buildkite-0190-abc']);
    expect(plan.notices).toContain(
      "using a per-job docker-container builder (buildkite-0190-abc): the engine's classic image store cannot do a multi-platform build",
    );
  });

  test('classic store + an OCI output also needs the container builder', () => {
    expect(planFor({ outputs: ['type=oci,dest=x.tar'] }, jobEnv, { imageStore: 'classic' as const }).engine.name).toBe('docker-container');
    expect(planFor({ outputs: ['type=local,dest=x'] }, jobEnv, { imageStore: 'classic' as const }).engine.name).toBe('docker');
  });

  test('classic store + requested attestations needs the container builder, unless the image is loaded', () => {
    expect(planFor({ provenance: 'mode=max' }, jobEnv, { imageStore: 'classic' as const }).engine.name).toBe('docker-container');
    expect(planFor({ sbom: true, load: true }, jobEnv, { imageStore: 'classic' as const }).engine.name).toBe('docker');
    expect(planFor({ provenance: false }, jobEnv, { imageStore: 'classic' as const }).engine.name).toBe('docker');
  });

  test('driver: docker-container with every option, kept', () => {
    const plan = planFor(
      {
        builder: {
          driver: 'docker-container',
          name: 'shared',
          image: 'moby/buildkit:v0.13.2',
          'driver-opts': ['network=host', 'memory=2g'],
          'buildkitd-flags': '--debug --allow-insecure-entitlement network.host',
          keep: true,
        },
      },
      jobEnv,
    );
    expect(plan.engine.name).toBe('docker-container');
    expect(setupArgv(plan)).toEqual([
      [
        'docker',
        'buildx',
        'create',
        '--name',
        'shared',
        '--driver',
        'docker-container',
        '--driver-opt',
        'image=moby/buildkit:v0.13.2',
        '--driver-opt',
        'network=host',
        '--driver-opt',
        'memory=2g',
        '--buildkitd-flags',
        '--debug --allow-insecure-entitlement network.host',
        '--bootstrap',
      ],
    ]);
    // Reused when it exists, or when another job creates it at the same moment; never removed.
    expect(plan.setup[0]?.reuseIf?.argv).toEqual(['docker', 'buildx', 'inspect', 'shared']);
    expect(plan.setup[0]?.doneByOtherJob?.text).toBe('existing instance for "shared"');
    expect(plan.cleanups).toEqual([]);
    expect(plan.notices).toEqual([]);
  });

  test('keep without a name is refused: every job would leave another builder running', () => {
    expect(() => planFor({ builder: { driver: 'docker-container', keep: true } }, jobEnv)).toThrow(/builder\.keep: .*set builder\.name too/);
    expect(() => planFor({ platforms: 'linux/amd64,linux/arm64', builder: { keep: true } }, jobEnv, { imageStore: 'containerd' as const })).toThrow(
      /builder\.keep/,
    );
    expect(planFor({ builder: { driver: 'docker-container', keep: false } }, jobEnv).cleanups.map((c) => c.argv)).toEqual([
      ['docker', 'buildx', 'rm', '--force', 'buildkite-0190-abc'],
    ]);
  });
});

describe('bake', () => {
  test('files, set, targets and the run-wide flags', () => {
    const plan = planFor(
      {
        bake: { files: ['docker-bake.hcl', 'ci.hcl'], targets: ['app', 'worker'], set: 'app.args.A=1,2\n*.platform=linux/amd64' },
        push: true,
        'no-cache': true,
      },
      {},
    );
    expect(plan.build.argv).toEqual([
      'docker',
      'buildx',
      'bake',
      '--progress',
      'plain',
      '--file',
      'docker-bake.hcl',
      '--file',
      'ci.hcl',
      '--set',
      'app.args.A=1,2',
      '--set',
      '*.platform=linux/amd64',
      '--push',
      '--no-cache',
      ...meta,
      'app',
      'worker',
    ]);
    expect(plan.build.title).toBe(':docker: Baking app, worker');
  });

  test('OCI labels go to every target', () => {
    expect(planFor({ bake: {}, 'oci-labels': true }, { BUILDKITE_COMMIT: 'abc' }).build.argv).toEqual(
      expect.arrayContaining(['--set', '*.labels.org.opencontainers.image.revision=abc']),
    );
  });

  // What `docker buildx bake --push --metadata-file F app worker` wrote (buildx 0.13.1): targets sorted by name.
  const bakeMetadata = {
    app: {
      'buildx.build.ref': 'default/default/88jpn0l5ipvnxv8izkzowk1ey',
      'containerimage.config.digest': 'sha256:be8d',
      'containerimage.descriptor': { mediaType: 'application/vnd.oci.image.index.v1+json', digest: 'sha256:aaaa', size: 855 },
      'containerimage.digest': 'sha256:aaaa',
      'image.name': '127.0.0.1:24672/exp/app:7',
    },
    worker: {
      'buildx.build.ref': 'default/default/pvb731lywznx74jk0z32e0rw4',
      'containerimage.config.digest': 'sha256:c3a8',
      'containerimage.descriptor': { mediaType: 'application/vnd.oci.image.index.v1+json', digest: 'sha256:bbbb', size: 855 },
      'containerimage.digest': 'sha256:bbbb',
      'image.name': '127.0.0.1:24672/exp/worker:7,127.0.0.1:24672/exp/worker:latest',
    },
  };

  async function readBakeMetadata(data: unknown, order?: string[]) {
    const file = join(scratchDir('bake-meta-'), 'm.json');
    writeFileSync(file, JSON.stringify(data));
    return readBuildMetadata(file, order);
  }

  test("buildx 0.13's bake metadata: each target's digest and refs", async () => {
    expect(await readBakeMetadata(bakeMetadata, ['app', 'worker'])).toEqual({
      digest: 'sha256:aaaa',
      targets: {
        app: { digest: 'sha256:aaaa', refs: ['127.0.0.1:24672/exp/app:7'] },
        worker: { digest: 'sha256:bbbb', refs: ['127.0.0.1:24672/exp/worker:7', '127.0.0.1:24672/exp/worker:latest'] },
      },
    });
  });

  test('the first target is the first of bake.targets, not the first by name; group members follow by name', async () => {
    const result = await readBakeMetadata(bakeMetadata, ['worker', 'app']);
    expect(result.digest).toBe('sha256:bbbb');
    expect(Object.keys(result.targets)).toEqual(['worker', 'app']);
    expect(Object.keys((await readBakeMetadata(bakeMetadata, ['default'])).targets)).toEqual(['app', 'worker']);
  });

  test('entries that are not targets (a buildx.build.* list) are left out', async () => {
    const result = await readBakeMetadata({ 'buildx.build.warnings': [{ short: 'x' }], ...bakeMetadata });
    expect(Object.keys(result.targets)).toEqual(['app', 'worker']);
  });
});

describe('version gates warn, never fail', () => {
  test('annotations on buildx 0.11', () => {
    expect(planFor({ annotations: ['a=b'] }, {}, { buildxVersion: '0.11.2' }).warnings).toEqual(['annotations needs buildx >= 0.12.0; this agent has 0.11.2']);
    expect(planFor({ annotations: ['a=b'] }, {}, { buildxVersion: '0.13.1+ds1' }).warnings).toEqual([]);
  });

  test('several outputs on BuildKit 0.12; an unknown BuildKit version warns about nothing', () => {
    const config = { image: 'r/a', push: true, outputs: ['type=local,dest=x'] };
    expect(planFor(config, {}, { buildxVersion: '0.13.1', buildkitVersion: '0.12.5' }).warnings).toEqual([
      'outputs (several) needs BuildKit >= 0.13.0; this agent has 0.12.5',
    ]);
    expect(planFor(config, {}, { buildxVersion: '0.13.1' }).warnings).toEqual([]);
  });

  test("the engine's BuildKit version says nothing about a per-job builder's", () => {
    const config = { image: 'r/a', push: true, outputs: ['type=local,dest=x'], platforms: ['linux/amd64', 'linux/arm64'] };
    const facts = { buildxVersion: '0.13.1', buildkitVersion: '0.12.5', imageStore: 'classic' as const };
    expect(planFor(config, { BUILDKITE_JOB_ID: 'j' }, facts).warnings).toEqual([]);
  });
});

import { pluginEnv } from '../../src/cli/plugin-env';
import { loadConfig } from '../../src/config/load-config';
import { sizeBytes } from '../../src/config/size';
import { connectionCause, remoteHint } from '../../src/engines/remote-hints';
import { rankEndpoints } from '../../src/engines/endpoints';
import { Facts } from '../../src/engines/engine';
import { planBuildRequest } from '../../src/plan/build-request';
import { planJob } from '../../src/plan/plan';

const stateDir = '/state/job';
const now = new Date('2026-01-02T03:04:05Z');
const tail = ['--metadata-file', `${stateDir}/build-metadata.json`];
const frontend = [
  'build',
  '--progress',
  'plain',
  '--frontend',
  'dockerfile.v0',
  '--local',
  'context=.',
  '--local',
  'dockerfile=.',
  '--opt',
  'filename=Dockerfile',
];

function planFor(config: Record<string, unknown>, env: Record<string, string> = {}, facts: Facts = { dockerCli: true }) {
  const loaded = loadConfig(pluginEnv('buildkit#v1', { 'oci-labels': false, ...config }, 'json'));
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  return planJob(loaded.config, planBuildRequest(loaded.config, env, stateDir, now), env, facts);
}

const remote = { endpoint: 'tcp://builder:1234', client: 'buildctl' };
const buildctlArgv = (config: Record<string, unknown>) => planFor({ ...config, builder: { ...remote, ...(config.builder as object) } }).build.argv;

describe('buildctl argv, option by option (remote)', () => {
  test.each<[string, Record<string, unknown>, string[]]>([
    ['defaults', {}, []],
    ['target', { target: 'runtime' }, ['--opt', 'target=runtime']],
    ['platforms', { platforms: ['linux/amd64', 'linux/arm64'] }, ['--opt', 'platform=linux/amd64,linux/arm64']],
    ['build-args', { 'build-args': { A: '1', B: 'x y' } }, ['--opt', 'build-arg:A=1', '--opt', 'build-arg:B=x y']],
    ['labels', { labels: { 'org.example.team': 'core' } }, ['--opt', 'label:org.example.team=core']],
    [
      'build-contexts: directories become locals, images and stages pass through',
      { 'build-contexts': { src: '../src', base: 'docker-image://alpine:3', deps: 'target:deps' } },
      ['--local', 'src=../src', '--opt', 'context:src=local:src', '--opt', 'context:base=docker-image://alpine:3', '--opt', 'context:deps=target:deps'],
    ],
    ['network none', { network: 'none' }, ['--opt', 'force-network-mode=none']],
    ['network host needs the entitlement', { network: 'host' }, ['--opt', 'force-network-mode=host', '--allow', 'network.host']],
    ['network default is left to the daemon', { network: 'default' }, []],
    ['shm-size in bytes', { 'shm-size': '2g' }, ['--opt', 'shm-size=2147483648']],
    ['add-hosts', { 'add-hosts': ['db:127.0.0.1', 'cache:127.0.0.2'] }, ['--opt', 'add-hosts=db=127.0.0.1,cache=127.0.0.2']],
    ['ulimit', { ulimit: ['nofile=1024:1024', 'nproc=64'] }, ['--opt', 'ulimit=nofile=1024:1024,nproc=64']],
    ['provenance', { provenance: 'mode=max' }, ['--opt', 'attest:provenance=mode=max']],
    ['sbom', { sbom: true }, ['--opt', 'attest:sbom=']],
    ['provenance false: none', { provenance: false }, []],
    ['pull', { pull: true }, ['--opt', 'image-resolve-mode=pull']],
    ['no-cache', { 'no-cache': true }, ['--no-cache']],
    ['refs without push: an image output that stays on the builder', { image: 'r/app', tags: ['1', '2'] }, ['--output', 'type=image,"name=r/app:1,r/app:2"']],
    [
      'push: one image output with every name, pushed; provenance as buildx gives it',
      { image: 'r/app', tags: ['1', '2'], push: true },
      ['--opt', 'attest:provenance=mode=min', '--output', 'type=image,"name=r/app:1,r/app:2",push=true'],
    ],
    [
      'annotations go on the image output',
      { image: 'r/app', annotations: ['index:org.opencontainers.image.description=multi', 'a=b'] },
      ['--output', 'type=image,name=r/app:latest,annotation-index.org.opencontainers.image.description=multi,annotation.a=b'],
    ],
    [
      'outputs: registry becomes a pushing image output; local and tar pass through',
      { image: 'r/app', outputs: ['type=registry', 'type=local,dest=out', 'type=tar,"dest=a,b.tar"'] },
      [
        '--opt',
        'attest:provenance=mode=min',
        '--output',
        'type=image,name=r/app:latest,push=true',
        '--output',
        'type=local,dest=out',
        '--output',
        'type=tar,"dest=a,b.tar"',
      ],
    ],
    ['load: a docker tar in the state dir', { image: 'r/app', load: true }, ['--output', `type=docker,name=r/app:latest,dest=${stateDir}/load.tar`]],
  ])('%s', (_name, config, expected) => {
    expect(buildctlArgv(config)).toEqual(['buildctl', '--addr', 'tcp://builder:1234', ...frontend, ...expected, ...tail]);
  });

  test('context and dockerfile: two locals and the file name', () => {
    const moved: Record<string, string> = {
      'context=.': 'context=app',
      'dockerfile=.': 'dockerfile=docker',
      'filename=Dockerfile': 'filename=Dockerfile.prod',
    };
    expect(buildctlArgv({ context: 'app', dockerfile: 'docker/Dockerfile.prod' }).slice(3, 14)).toEqual(frontend.map((word) => moved[word] ?? word));
    expect(buildctlArgv({ context: 'app' })).toContain('dockerfile=app');
  });

  test('TLS files: paths (relative ones against the checkout) and env: values written 0600 into the state dir', () => {
    const plan = planFor(
      { builder: { ...remote, tls: { ca: 'certs/ca.pem', cert: '/etc/bk/cert.pem', key: 'env:BK_KEY', servername: 'builder.internal' } } },
      { BUILDKITE_BUILD_CHECKOUT_PATH: '/checkout', BK_KEY: 'PEM KEY' },
    );
    expect(plan.build.argv.slice(0, 11)).toEqual([
      'buildctl',
      '--addr',
      'tcp://builder:1234',
      '--tlscacert',
      '/checkout/certs/ca.pem',
      '--tlscert',
      '/etc/bk/cert.pem',
      '--tlskey',
      `${stateDir}/tls-key.pem`,
      '--tlsservername',
      'builder.internal',
    ]);
    expect(plan.build.files).toEqual([{ name: 'tls-key.pem', content: 'PEM KEY', mode: 0o600 }]);
    expect(plan.exports).toEqual({ BUILDKIT_HOST: 'tcp://builder:1234' });
    expect(plan.builtOn).toBe('tcp://builder:1234');
  });

  test('load: docker load reads the tar after the build', () => {
    expect(planFor({ load: true, builder: remote }).after.map((step) => step.argv)).toEqual([['docker', 'load', '--input', `${stateDir}/load.tar`]]);
  });

  test('a push is retried on transient registry errors, as with buildx', () => {
    expect(planFor({ image: 'r/a', push: true, builder: remote }).build.retry?.attempts).toBe(2);
  });
});

describe('daemonless', () => {
  test('buildctl-daemonless.sh with BUILDKITD_FLAGS from builder.buildkitd-flags, in its own process group', () => {
    const plan = planFor({ builder: { driver: 'daemonless', 'buildkitd-flags': '--oci-worker-no-process-sandbox' } }, {}, { daemonless: true });
    expect(plan.build.argv).toEqual(['buildctl-daemonless.sh', ...frontend, ...tail]);
    expect(plan.build.env).toEqual({ BUILDKITD_FLAGS: '--oci-worker-no-process-sandbox' });
    expect(plan.build.processGroup).toBe(true);
    expect(plan.exports).toEqual({});
  });

  test("without buildkitd-flags the pod's own BUILDKITD_FLAGS stays", () => {
    expect(planFor({ builder: { driver: 'daemonless' } }, {}, { daemonless: true }).build.env).toBeUndefined();
  });
});

describe('buildx remote driver', () => {
  const create = (name: string, ...rest: string[]) => ['docker', 'buildx', 'create', '--name', name, ...rest];

  test('a per-job builder on the endpoint, with its TLS as driver options, removed by pre-exit', () => {
    const plan = planFor(
      { builder: { endpoint: 'tcp://b:1234', client: 'buildx', tls: { ca: '/c/ca.pem', cert: '/c/cert.pem', key: '/c/key.pem' } } },
      { BUILDKITE_JOB_ID: 'j1' },
    );
    expect(plan.engine.name).toBe('buildx-remote');
    expect(plan.setup.map((s) => s.argv)).toEqual([
      ['docker', 'buildx', 'rm', '--force', 'buildkite-j1'],
      create(
        'buildkite-j1',
        '--driver',
        'remote',
        '--driver-opt',
        'cacert=/c/ca.pem',
        '--driver-opt',
        'cert=/c/cert.pem',
        '--driver-opt',
        'key=/c/key.pem',
        '--bootstrap',
        'tcp://b:1234',
      ),
    ]);
    expect(plan.build.argv.slice(0, 7)).toEqual(['docker', 'buildx', 'build', '--progress', 'plain', '--builder', 'buildkite-j1']);
    expect(plan.cleanups.map((c) => c.argv)).toEqual([['docker', 'buildx', 'rm', '--force', 'buildkite-j1']]);
  });

  test('nodes: one remote node per platform, appended, bootstrapped once', () => {
    const plan = planFor(
      {
        platforms: ['linux/amd64', 'linux/arm64'],
        builder: {
          nodes: [
            { endpoint: 'tcp://amd:1234', platforms: 'linux/amd64' },
            { endpoint: 'tcp://arm:1234', platforms: ['linux/arm64'] },
          ],
        },
      },
      { BUILDKITE_JOB_ID: 'j1' },
    );
    expect(plan.setup.slice(1).map((s) => s.argv)).toEqual([
      create('buildkite-j1', '--driver', 'remote', '--platform', 'linux/amd64', 'tcp://amd:1234'),
      create('buildkite-j1', '--append', '--driver', 'remote', '--platform', 'linux/arm64', '--bootstrap', 'tcp://arm:1234'),
    ]);
  });

  test('keep with nodes, or with env: TLS, is refused', () => {
    expect(() =>
      planFor({
        builder: {
          name: 'b',
          keep: true,
          nodes: [
            { endpoint: 'tcp://a:1', platforms: 'x' },
            { endpoint: 'tcp://b:1', platforms: 'y' },
          ],
        },
      }),
    ).toThrow(/^builder\.keep: .*builder\.nodes/);
    expect(() => planFor({ builder: { name: 'b', keep: true, endpoint: 'tcp://a:1', client: 'buildx', tls: { ca: 'env:CA' } } })).toThrow(
      /^builder\.keep: .*env: values/,
    );
  });
});

describe('routing across several endpoints', () => {
  const endpoints = ['tcp://a:1234', 'tcp://b:1234', 'tcp://c:1234', 'tcp://d:1234'];

  test('the same key always ranks them the same way; keys spread over the builders', () => {
    expect(rankEndpoints(endpoints, 'pipeline-x')).toEqual(rankEndpoints([...endpoints].reverse(), 'pipeline-x'));
    const firsts = new Set(Array.from({ length: 40 }, (_, i) => rankEndpoints(endpoints, `pipeline-${i}`)[0]));
    expect(firsts.size).toBe(4);
  });

  test('removing a builder moves only the keys that were on it', () => {
    const keys = Array.from({ length: 200 }, (_, i) => `p${i}`);
    const removed = 'tcp://c:1234';
    const moved = keys.filter(
      (key) =>
        rankEndpoints(endpoints, key)[0] !== removed &&
        rankEndpoints(
          endpoints.filter((e) => e !== removed),
          key,
        )[0] !== rankEndpoints(endpoints, key)[0],
    );
    expect(moved).toEqual([]);
  });

  test('route-key, else the pipeline slug, picks the builder', () => {
    const slug = planFor({ builder: { endpoint: endpoints, client: 'buildctl' } }, { BUILDKITE_PIPELINE_SLUG: 'web' });
    expect(slug.builtOn).toBe(rankEndpoints(endpoints, 'web')[0]);
    const keyed = planFor({ builder: { endpoint: endpoints, client: 'buildctl', 'route-key': 'monorepo-tools' } }, { BUILDKITE_PIPELINE_SLUG: 'web' });
    expect(keyed.builtOn).toBe(rankEndpoints(endpoints, 'monorepo-tools')[0]);
  });

  test('the connection check moves the build to the first endpoint that answered', () => {
    const plan = planFor({ builder: { endpoint: endpoints, client: 'buildctl' } }, {}, { endpoints: { chosen: 'tcp://d:1234', failures: [] } });
    expect(plan.build.argv.slice(0, 3)).toEqual(['buildctl', '--addr', 'tcp://d:1234']);
    expect(plan.exports.BUILDKIT_HOST).toBe('tcp://d:1234');
  });
});

describe('configuration of remote builders', () => {
  const errorsOf = (builder: Record<string, unknown>) => {
    const loaded = loadConfig(pluginEnv('buildkit#v1', { builder }, 'json'));
    return loaded.ok ? [] : loaded.errors;
  };

  test.each<[Record<string, unknown>, string]>([
    [{ endpoint: 'builder:1234' }, 'builder.endpoint: expected a BuildKit address such as tcp://builder:1234'],
    [{ endpoint: ['tcp://a:1', 'tcp://nohost'] }, 'builder.endpoint[1]: a tcp:// address needs a host and a port'],
    [{ nodes: [{ endpoint: 'x', platforms: 'linux/amd64' }] }, 'builder.nodes[0].endpoint: expected a BuildKit address'],
    [{ tls: { ca: 'env:1BAD' } }, 'builder.tls.ca: expected env:NAME with a variable name'],
    [{ tls: { cert: '/c.pem' } }, 'builder.tls: cert and key go together'],
    [{ client: 'kubectl' }, 'builder.client: expected one of auto, buildctl, buildx'],
  ])('%j', (builder, message) => {
    expect(errorsOf(builder).join('\n')).toContain(message);
  });

  test('shm-size units', () => {
    expect([sizeBytes('64'), sizeBytes('1k'), sizeBytes('2m'), sizeBytes('2G')]).toEqual([64, 1024, 2 * 1024 ** 2, 2 * 1024 ** 3]);
  });
});

describe('the likely cause of a connection failure', () => {
  test.each([
    ['ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9', /^connection refused: the daemon is not running there/],
    ['ENOTFOUND: getaddrinfo ENOTFOUND builder.internal', /^unknown host/],
    ['ETIMEDOUT: no answer within 3000 ms', /^deadline exceeded/],
    ['ERR_TLS_CERT_ALTNAME_INVALID: Hostname/IP does not match', /^TLS handshake failed: a certificate mismatch/],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE: unable to verify the first certificate', /^TLS handshake failed/],
    [
      'error: failed to call info: Unavailable: connection error: desc = "error reading server preface: remote error: tls: certificate required"',
      /^TLS handshake failed/,
    ],
  ])('%s', (error, cause) => {
    expect(connectionCause(error)).toMatch(cause);
  });

  test("a build that lost its builder gets a hint; a build's own failure does not", () => {
    expect(
      remoteHint(['error: listing workers for Build: failed to list workers: Unavailable: write tcp 127.0.0.1:39658->127.0.0.1:30922: write: broken pipe']),
    ).toMatch(/^the remote builder could not be reached: connection reset/);
    expect(remoteHint(['error: failed to solve: process "/bin/sh -c exit 7" did not complete successfully: exit code: 7'])).toBeUndefined();
  });
});

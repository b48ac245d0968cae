import { pluginEnv } from '../../src/cli/plugin-env';
import { loadConfig } from '../../src/config/load-config';
import { factsToProbe } from '../../src/engines/choose';
import { Facts } from '../../src/engines/engine';
import { kubernetesHint } from '../../src/engines/kubernetes-hints';
import { planBuildRequest } from '../../src/plan/build-request';
import { planJob } from '../../src/plan/plan';
import { driverOptionErrors } from '../../src/plan/version-warnings';

const stateDir = '/state/job';
const env = { BUILDKITE_JOB_ID: 'j1' };
const create = ['docker', 'buildx', 'create', '--name', 'buildkite-j1'];

function load(builder: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return loadConfig(pluginEnv('buildkit#v1', { 'oci-labels': false, ...extra, builder: { driver: 'kubernetes', ...builder } }, 'json'));
}

function planFor(builder: Record<string, unknown>, extra: Record<string, unknown> = {}, facts: Facts = { dockerCli: true }) {
  const loaded = load(builder, extra);
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  return planJob(loaded.config, planBuildRequest(loaded.config, env, stateDir, new Date(0)), env, facts);
}

describe("buildx's kubernetes driver: argv", () => {
  test('a per-job builder: sticky load balancing by default, created with --bootstrap, removed by pre-exit', () => {
    const plan = planFor({});
    expect(plan.engine.name).toBe('buildx-kubernetes');
    expect(plan.setup.map((step) => step.argv)).toEqual([
      ['docker', 'buildx', 'rm', '--force', 'buildkite-j1'],
      [...create, '--driver', 'kubernetes', '--driver-opt', 'loadbalance=sticky', '--bootstrap'],
    ]);
    expect(plan.build.argv.slice(0, 7)).toEqual(['docker', 'buildx', 'build', '--progress', 'plain', '--builder', 'buildkite-j1']);
    expect(plan.cleanups.map((c) => c.argv)).toEqual([['docker', 'buildx', 'rm', '--force', 'buildkite-j1']]);
  });

  test('every documented option reaches buildx create; a value holding commas is quoted whole', () => {
    const opts = [
      'namespace=ci',
      'replicas=2',
      'requests.cpu=500m',
      'limits.memory=4Gi',
      'nodeselector=kubernetes.io/arch=amd64,pool=build',
      'tolerations=key=build,operator=Exists,effect=NoSchedule',
      'rootless=true',
      'loadbalance=random',
      'qemu.install=true',
      'serviceaccount=buildkit',
      'annotations=team=core',
      'labels=app=buildkit',
    ];
    const plan = planFor({ image: 'moby/buildkit:v0.13.2-rootless', 'driver-opts': opts, 'buildkitd-flags': '--debug' });
    expect(plan.setup[1]?.argv).toEqual([
      ...create,
      '--driver',
      'kubernetes',
      '--driver-opt',
      'image=moby/buildkit:v0.13.2-rootless',
      ...opts.flatMap((opt) => ['--driver-opt', opt.includes(',') ? `"${opt}"` : opt]),
      '--buildkitd-flags',
      '--debug',
      '--bootstrap',
    ]);
  });

  test('nodes: one Deployment per platform with its own options, appended, bootstrapped once', () => {
    const plan = planFor({
      'driver-opts': ['namespace=ci'],
      nodes: [
        { platforms: 'linux/amd64', 'driver-opts': ['nodeselector=kubernetes.io/arch=amd64'] },
        { platforms: ['linux/arm64'], 'driver-opts': ['nodeselector=kubernetes.io/arch=arm64'] },
      ],
    });
    const opts = (arch: string) => [
      '--driver-opt',
      'loadbalance=sticky',
      '--driver-opt',
      'namespace=ci',
      '--driver-opt',
      `nodeselector=kubernetes.io/arch=${arch}`,
    ];
    expect(plan.setup.slice(1).map((step) => step.argv)).toEqual([
      [...create, '--driver', 'kubernetes', ...opts('amd64'), '--platform', 'linux/amd64'],
      [...create, '--append', '--driver', 'kubernetes', ...opts('arm64'), '--platform', 'linux/arm64', '--bootstrap'],
    ]);
  });

  test("creating waits for readiness: buildx's timeout plus a margin, else 3 minutes", () => {
    expect(planFor({}).setup[1]?.timeoutMs).toBe(180_000);
    expect(planFor({ 'driver-opts': ['timeout=5m'] }).setup[1]?.timeoutMs).toBe(330_000);
  });

  test('kept: reused by name, never removed', () => {
    const plan = planFor({ name: 'shared-k8s', keep: true });
    expect(plan.setup).toHaveLength(1);
    expect(plan.setup[0]?.reuseIf?.argv).toEqual(['docker', 'buildx', 'inspect', 'shared-k8s']);
    expect(plan.cleanups).toEqual([]);
  });

  test('auto never picks it; it probes the buildx version, never the image store', () => {
    expect(planFor({ driver: 'auto' }).engine.name).toBe('docker');
    const loaded = load({});
    if (!loaded.ok) throw new Error('invalid');
    const input = { config: loaded.config, request: planBuildRequest(loaded.config, env, stateDir, new Date(0)).request, env };
    expect(factsToProbe(input, { dockerCli: true })).toEqual(['buildxVersion']);
  });
});

describe("the kubernetes driver's options are checked before anything runs", () => {
  const errorsOf = (builder: Record<string, unknown>) => {
    const loaded = load(builder);
    return loaded.ok ? [] : loaded.errors;
  };

  test.each<[string[], string]>([
    [['memory=2g'], "builder.driver-opts[0]: memory is not an option of buildx's kubernetes driver; expected one of: image, namespace,"],
    [['replicas=0'], 'builder.driver-opts[0]: replicas: expected a whole number of at least 1; got "0"'],
    [['rootless=yes'], 'builder.driver-opts[0]: rootless: expected true or false; got "yes"'],
    [['loadbalance=round-robin'], 'builder.driver-opts[0]: loadbalance: expected sticky or random'],
    [['requests.cpu=lots'], 'builder.driver-opts[0]: requests.cpu: expected a Kubernetes quantity'],
    [['nodeselector=arm64'], 'builder.driver-opts[0]: nodeselector: expected key=value pairs'],
    [['tolerations=key=x,color=red'], 'builder.driver-opts[0]: tolerations: expected key=..'],
    [['timeout=soon'], 'builder.driver-opts[0]: timeout: expected a duration'],
    [['namespace=CI'], 'builder.driver-opts[0]: namespace: expected a namespace name'],
    [['rootless'], 'builder.driver-opts[0]: expected key=value; got "rootless"'],
  ])('%j', (opts, message) => {
    expect(errorsOf({ 'driver-opts': opts }).join('\n')).toContain(message);
  });

  test('node options too; a kubernetes node has no endpoint', () => {
    expect(errorsOf({ nodes: [{ platforms: 'linux/arm64', 'driver-opts': ['bogus=1'] }] }).join('\n')).toContain(
      'builder.nodes[0].driver-opts[0]: bogus is not an option',
    );
    expect(errorsOf({ nodes: [{ platforms: 'linux/arm64', endpoint: 'tcp://a:1' }] }).join('\n')).toContain(
      'builder.nodes[0].endpoint: a kubernetes node is a Deployment',
    );
  });

  test('an option newer than the buildx in use is refused in the command hook, naming both versions', () => {
    const configOf = (opts: string[]) => {
      const loaded = load({ 'driver-opts': opts });
      if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
      return loaded.config;
    };
    expect(driverOptionErrors(configOf(['timeout=5m', 'schedulername=batch', 'replicas=2']), '0.13.1')).toEqual([
      'builder.driver-opts: timeout needs buildx >= 0.15.0; this agent has 0.13.1',
      'builder.driver-opts: schedulername needs buildx >= 0.14.0; this agent has 0.13.1',
    ]);
    expect(driverOptionErrors(configOf(['timeout=5m']), '0.17.1')).toEqual([]);
    expect(driverOptionErrors(configOf(['timeout=5m']), undefined)).toEqual([]);
  });

  test('an endpoint, or keep with nodes, is refused', () => {
    expect(() => planFor({ endpoint: 'tcp://a:1234' })).toThrow(/^builder\.endpoint: the kubernetes driver creates its builders in the cluster/);
    expect(() => planFor({ name: 'k', keep: true, nodes: [{ platforms: 'linux/amd64' }, { platforms: 'linux/arm64' }] })).toThrow(/^builder\.keep: /);
  });
});

describe('why a kubernetes builder could not be created', () => {
  test.each([
    ['ERROR: kubernetes driver requires kubernetes API access', /^no Kubernetes credentials/],
    ['ERROR: invalid configuration: no configuration has been provided, try setting KUBERNETES_MASTER environment variable', /^no Kubernetes credentials/],
    [
      'ERROR: deployments.apps is forbidden: User "system:serviceaccount:ci:agent" cannot create resource "deployments" in API group "apps" in the namespace "ci"',
      /^RBAC forbids it/,
    ],
    ['ERROR: expected 1 replicas to be ready, got 0', /^the BuildKit pods never became ready/],
    ['buildkit: timed out after 180 s', /^the BuildKit pods never became ready/],
  ])('%s', (line, hint) => {
    expect(kubernetesHint(['#1 [internal] booting buildkit', line])).toMatch(hint);
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { pluginEnv } from '../../src/cli/plugin-env';
import { loadConfig } from '../../src/config/load-config';

// The agent-stack-k8s examples: their structure, since no cluster runs here.
const root = join(__dirname, '..', '..');
type Container = {
  name?: string;
  image?: string;
  args?: string[];
  securityContext?: Record<string, unknown>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
};
type PodPlugin = { podSpec?: { containers?: Container[]; volumes?: Array<{ name: string }> }; sidecars?: Container[] };
type Step = { key: string; agents?: Record<string, string>; plugins: Array<Record<string, unknown>> };
const steps = (YAML.parse(readFileSync(join(root, 'examples', 'kubernetes', 'pipeline.yml'), 'utf8')) as { steps: Step[] }).steps;
const byKey = (key: string) => steps.find((step) => step.key === key) as Step;
const pod = (step: Step) => step.plugins.find((plugin) => 'kubernetes' in plugin)?.kubernetes as PodPlugin;
const buildkit = (step: Step) => step.plugins.find((plugin) => 'buildkit#v1' in plugin)?.['buildkit#v1'] as Record<string, unknown>;

describe('examples/kubernetes', () => {
  test.each(steps.map((step) => [step.key, step]))('%s: a kubernetes pod spec, the buildkit plugin after it, a valid configuration', (_key, step) => {
    expect(step.agents?.queue).toBe('kubernetes');
    const plugins = step.plugins.map((plugin) => Object.keys(plugin)[0]);
    expect(plugins).toEqual(['kubernetes', 'buildkit#v1']);
    const containers = pod(step).podSpec?.containers ?? [];
    expect(containers.map((c) => c.name)).toEqual(['main']);
    expect(containers[0]?.image).toMatch(/buildkite-buildkit-job:v0\.13\.2$/);
    const volumes = new Set((pod(step).podSpec?.volumes ?? []).map((v) => v.name));
    for (const container of [...containers, ...(pod(step).sidecars ?? [])])
      for (const mount of container.volumeMounts ?? []) expect(volumes).toContain(mount.name);
    const loaded = loadConfig(pluginEnv('buildkit#v1', buildkit(step), 'json'));
    expect(loaded.ok ? [] : loaded.errors).toEqual([]);
  });

  test('rootless: uid 1000 with seccomp and AppArmor unconfined, no process sandbox, daemonless', () => {
    const step = byKey('app-rootless');
    const main = pod(step).podSpec?.containers?.[0];
    expect(main?.securityContext).toMatchObject({ runAsUser: 1000, seccompProfile: { type: 'Unconfined' }, appArmorProfile: { type: 'Unconfined' } });
    expect(main?.securityContext?.privileged).toBeUndefined();
    expect(buildkit(step).builder).toEqual({ driver: 'daemonless', 'buildkitd-flags': '--oci-worker-no-process-sandbox' });
  });

  test('privileged: daemonless, as root', () => {
    const step = byKey('app-privileged');
    expect(pod(step).podSpec?.containers?.[0]?.securityContext).toMatchObject({ privileged: true, runAsUser: 0 });
    expect(buildkit(step).builder).toEqual({ driver: 'daemonless' });
  });

  test('sidecar: buildkitd listens on the socket directory the command container mounts too', () => {
    const step = byKey('app-sidecar');
    const [sidecar] = pod(step).sidecars ?? [];
    const socket = 'unix:///run/buildkit/buildkitd.sock';
    expect(sidecar?.image).toBe('moby/buildkit:v0.13.2');
    expect(sidecar?.args).toEqual(['--addr', socket]);
    const mountOf = (c: Container | undefined) => c?.volumeMounts?.find((m) => m.mountPath === '/run/buildkit')?.name;
    expect(mountOf(sidecar)).toBeDefined();
    expect(mountOf(pod(step).podSpec?.containers?.[0])).toBe(mountOf(sidecar));
    expect(buildkit(step).builder).toEqual({ endpoint: socket, client: 'buildctl' });
  });

  test('the job image adds bash, Node.js and git to the rootless BuildKit image, and runs as uid 1000', () => {
    const dockerfile = readFileSync(join(root, 'examples', 'kubernetes', 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM moby\/buildkit:v0\.13\.2-rootless$/m);
    expect(dockerfile).toMatch(/^RUN apk add --no-cache bash nodejs git$/m);
    expect(dockerfile.trim().split('\n').pop()).toBe('USER 1000:1000');
  });
});

describe('examples/kubernetes/buildx-kubernetes-rbac.yaml', () => {
  type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };
  type Doc = {
    kind: string;
    metadata: { name: string; namespace: string };
    rules?: Rule[];
    roleRef?: { kind: string; name: string };
    subjects?: Array<{ kind: string }>;
  };
  const docs = YAML.parseAllDocuments(readFileSync(join(root, 'examples', 'kubernetes', 'buildx-kubernetes-rbac.yaml'), 'utf8')).map((d) => d.toJS() as Doc);
  const role = docs.find((d) => d.kind === 'Role');
  const allows = (resource: string, verb: string) => (role?.rules ?? []).some((r) => r.resources.includes(resource) && r.verbs.includes(verb));

  test('the Role lets buildx create and remove Deployments, find their pods and exec into them', () => {
    for (const verb of ['get', 'list', 'create', 'delete']) expect(allows('deployments', verb)).toBe(true);
    for (const verb of ['get', 'list']) expect(allows('pods', verb)).toBe(true);
    expect(allows('pods/exec', 'create')).toBe(true);
  });

  test("the RoleBinding gives it to a service account, in the Role's namespace", () => {
    const binding = docs.find((d) => d.kind === 'RoleBinding');
    expect(binding?.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role?.metadata.name });
    expect(binding?.metadata.namespace).toBe(role?.metadata.namespace);
    expect(binding?.subjects?.[0]?.kind).toBe('ServiceAccount');
  });

  test('the pipeline puts its Deployments in that namespace', () => {
    const text = readFileSync(join(root, 'examples', 'kubernetes', 'buildx-kubernetes.pipeline.yml'), 'utf8');
    expect(text).toContain(`namespace=${role?.metadata.namespace}`);
  });
});

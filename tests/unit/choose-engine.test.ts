import { pluginEnv } from '../../src/cli/plugin-env';
import { loadConfig } from '../../src/config/load-config';
import { chooseEngine, factsToProbe } from '../../src/engines/choose';
import { Fact, Facts } from '../../src/engines/engine';
import { planBuildRequest } from '../../src/plan/build-request';

const env = { BUILDKITE_JOB_ID: 'j1' };

function input(config: Record<string, unknown>, jobEnv: Record<string, string> = env) {
  const loaded = loadConfig(pluginEnv('buildkit#v1', { 'oci-labels': false, ...config }, 'json'));
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  return { config: loaded.config, request: planBuildRequest(loaded.config, jobEnv, '/state', new Date(0)).request, env: jobEnv };
}

const twoPlatforms = { platforms: ['linux/amd64', 'linux/arm64'] };
const classic: Facts = { dockerCli: true, imageStore: 'classic' };
const containerd: Facts = { dockerCli: true, imageStore: 'containerd' };

describe('chooseEngine: one pure function of configuration, request and facts', () => {
  test.each<[string, Record<string, unknown>, Facts, string, RegExp | undefined]>([
    ['auto, nothing known (environment hook)', {}, {}, 'docker', undefined],
    ['auto, a single-platform build on the classic store', {}, classic, 'docker', undefined],
    ['auto, two platforms on the containerd store', twoPlatforms, containerd, 'docker', undefined],
    ['auto, two platforms on the classic store', twoPlatforms, classic, 'docker-container', /classic image store cannot do a multi-platform build/],
    ['auto, an OCI output on the classic store', { outputs: ['type=oci,dest=x.tar'] }, classic, 'docker-container', /an OCI layout output/],
    ['auto, annotations on the classic store', { annotations: ['a=b'] }, classic, 'docker-container', /annotations/],
    ['auto, attestations on the classic store', { sbom: true }, classic, 'docker-container', /attestations/],
    ['auto, attestations of a loaded image (dropped)', { sbom: true, load: true }, classic, 'docker', undefined],
    ['docker-container, always', { builder: { driver: 'docker-container' } }, containerd, 'docker-container', undefined],
    ['docker, where it can', { builder: { driver: 'docker' } }, containerd, 'docker', undefined],
    ['dry-run without a docker CLI', { 'dry-run': true }, { dockerCli: false }, 'docker', undefined],
    ['auto, an endpoint, buildx there', { builder: { endpoint: 'tcp://b:1234' } }, { dockerCli: true, buildxPlugin: true }, 'buildx-remote', undefined],
    ['auto, an endpoint, no docker', { builder: { endpoint: 'tcp://b:1234' } }, { dockerCli: false }, 'buildctl-remote', undefined],
    [
      'auto, an endpoint, docker without buildx',
      { builder: { endpoint: 'tcp://b:1234' } },
      { dockerCli: true, buildxPlugin: false },
      'buildctl-remote',
      undefined,
    ],
    ['auto, an endpoint wins over Docker', { builder: { endpoint: 'tcp://b:1234', client: 'buildctl' } }, containerd, 'buildctl-remote', undefined],
    [
      "auto, BUILDKIT_HOST in the agent's environment",
      { builder: { client: 'buildctl' }, env: { BUILDKIT_HOST: 'tcp://fleet:1234' } },
      containerd,
      'buildctl-remote',
      undefined,
    ],
    ['auto, no Docker, daemonless script', {}, { dockerCli: false, daemonless: true }, 'buildctl-daemonless', undefined],
    [
      'auto, Docker that does not answer, daemonless script',
      {},
      { dockerCli: true, dockerReachable: false, daemonless: true },
      'buildctl-daemonless',
      undefined,
    ],
    ['auto, Docker that answers beats daemonless', {}, { dockerCli: true, dockerReachable: true, daemonless: true }, 'docker', undefined],
    ['remote with buildx', { builder: { driver: 'remote', endpoint: 'tcp://b:1234', client: 'buildx' } }, { dockerCli: true }, 'buildx-remote', undefined],
    ['daemonless', { builder: { driver: 'daemonless' } }, { daemonless: true }, 'buildctl-daemonless', undefined],
  ])('%s → %s', (_name, config, facts, engine, notice) => {
    const { env: jobEnv, ...rest } = config as { env?: Record<string, string> };
    const choice = chooseEngine(input(rest, { ...env, ...jobEnv }), facts);
    expect(choice.engine.name).toBe(engine);
    expect(choice.reason).toMatch(/\S/);
    if (notice) expect(choice.notice).toMatch(notice);
    else expect(choice.notice).toBeUndefined();
  });

  test.each<[string, Record<string, unknown>, Facts, RegExp]>([
    ['no docker CLI', {}, { dockerCli: false }, /no BuildKit engine found: the docker CLI is not on PATH/],
    [
      'nothing at all: the four ways',
      {},
      { dockerCli: false, daemonless: false },
      /\(1\) builder\.endpoint.*\(2\) BUILDKIT_HOST.*\(3\) Docker with the buildx plugin.*\(4\) buildctl-daemonless\.sh/,
    ],
    ['remote without an endpoint', { builder: { driver: 'remote' } }, {}, /^builder\.driver: remote needs builder\.endpoint/],
    [
      'daemonless without the script',
      { builder: { driver: 'daemonless' } },
      { daemonless: false },
      /^builder\.driver: daemonless needs buildctl-daemonless\.sh/,
    ],
    [
      'bake with buildctl',
      { bake: {}, builder: { endpoint: 'tcp://b:1234', client: 'buildctl' } },
      {},
      /^bake: the buildctl-remote engine \(buildctl\) cannot bake; it needs buildx/,
    ],
    [
      'nodes with buildctl',
      { builder: { nodes: [{ endpoint: 'tcp://a:1', platforms: 'linux/amd64' }], client: 'buildctl' } },
      {},
      /^builder\.nodes: .*needs buildx's remote driver/,
    ],
    [
      'load with buildctl and no docker',
      { load: true, builder: { driver: 'daemonless' } },
      { dockerCli: false, daemonless: true },
      /^load: .*no docker CLI to load it into/,
    ],
    [
      'an endpoint with driver docker',
      { builder: { driver: 'docker', endpoint: 'tcp://b:1234' } },
      containerd,
      /^builder\.endpoint: .*remote or auto, not docker/,
    ],
    [
      'driver docker on the classic store, two platforms',
      { ...twoPlatforms, builder: { driver: 'docker' } },
      classic,
      /^builder\.driver: .*multi-platform build.*containerd-snapshotter.*builder\.driver: auto or docker-container/,
    ],
  ])('%s is refused, naming the option', (_name, config, facts, message) => {
    expect(() => chooseEngine(input(config), facts)).toThrow(message);
  });
});

describe('factsToProbe: only what the choice and the engine read', () => {
  test.each<[string, Record<string, unknown>, Fact[]]>([
    ['a plain build probes nothing', {}, []],
    ['the image store only when the classic store would change the plan', twoPlatforms, ['imageStore']],
    ['a per-job builder needs no image store', { ...twoPlatforms, builder: { driver: 'docker-container' } }, []],
    ['buildx and BuildKit versions for a gated option', { annotations: ['a=b'] }, ['imageStore', 'buildxVersion', 'buildkitVersion']],
    ["a per-job builder's BuildKit is not the engine's", { annotations: ['a=b'], builder: { driver: 'docker-container' } }, ['buildxVersion']],
    ['dry-run probes no versions', { annotations: ['a=b'], 'dry-run': true }, ['imageStore']],
    ['an endpoint: its connection check, never docker info', { builder: { endpoint: 'tcp://b:1234', client: 'buildctl' } }, ['endpoints', 'buildctlVersions']],
    ['an endpoint through buildx', { builder: { endpoint: 'tcp://b:1234', client: 'buildx' } }, ['endpoints']],
    ['daemonless probes nothing', { builder: { driver: 'daemonless' } }, []],
  ])('%s', (_name, config, facts) => {
    expect(factsToProbe(input(config), { dockerCli: true }).sort()).toEqual([...facts].sort());
  });
});

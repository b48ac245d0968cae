import { pluginEnv } from '../../src/cli/plugin-env';
import { loadConfig } from '../../src/config/load-config';
import { chooseEngine, factsToProbe } from '../../src/engines/choose';
import { Fact, Facts } from '../../src/engines/engine';
import { planBuildRequest } from '../../src/plan/build-request';

const env = { BUILDKITE_JOB_ID: 'j1' };

function input(config: Record<string, unknown>) {
  const loaded = loadConfig(pluginEnv('buildkit#v1', { 'oci-labels': false, ...config }, 'json'));
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  return { config: loaded.config, request: planBuildRequest(loaded.config, env, '/state', new Date(0)).request, env };
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
  ])('%s → %s', (_name, config, facts, engine, notice) => {
    const choice = chooseEngine(input(config), facts);
    expect(choice.engine.name).toBe(engine);
    expect(choice.reason).not.toBe('');
    if (notice) expect(choice.notice).toMatch(notice);
    else expect(choice.notice).toBeUndefined();
  });

  test.each<[string, Record<string, unknown>, Facts, RegExp]>([
    ['no docker CLI', {}, { dockerCli: false }, /no BuildKit engine found: the docker CLI is not on PATH/],
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
  ])('%s', (_name, config, facts) => {
    expect(factsToProbe(input(config)).sort()).toEqual([...facts].sort());
  });
});

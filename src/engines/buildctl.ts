import { join } from 'node:path';
import { Step } from '../plan/step';
import { buildctlBuildArgs } from './buildctl-args';
import { buildingTitle, pushRetry } from './buildx-step';
import { Engine, EngineInput, Facts } from './engine';
import { chosenEndpoint } from './remote-endpoints';
import { remoteHint } from './remote-hints';
import { buildctlTlsFlags, tlsFiles } from './tls';

const loadTar = (input: EngineInput) => join(input.request.stateDir, 'load.tar');

/** What buildctl cannot do, each naming the option. */
function buildctlLimits(engine: string) {
  return ({ config, request }: EngineInput, facts: Facts): string[] => {
    const limits: string[] = [];
    const by = `the ${engine} engine (buildctl) cannot`;
    if (config.bake) limits.push(`bake: ${by} bake; it needs buildx (builder.client: buildx, or an agent with Docker)`);
    if (config.builder.nodes.length > 0) limits.push(`builder.nodes: ${by} build on several nodes; it needs buildx's remote driver (builder.client: buildx)`);
    if (request.loads && facts.dockerCli === false) limits.push(`load: ${by} load an image here: there is no docker CLI to load it into`);
    if (engine === 'buildctl-remote' && facts.buildctl === false && !config.dryRun) {
      limits.push(
        'builder.client: buildctl is not on PATH; install it (bin/buildctl of a BuildKit release, the same version as the builder) or use builder.client: buildx',
      );
    }
    return limits;
  };
}

function loadSteps(input: EngineInput): Step[] {
  if (!input.request.loads) return [];
  const tar = loadTar(input);
  return [{ title: 'loading the image into Docker', group: ':docker: Loading the image into Docker', argv: ['docker', 'load', '--input', tar] }];
}

/** A remote buildkitd through buildctl: `--addr` and the TLS flags. */
export const buildctlRemoteEngine: Engine = {
  name: 'buildctl-remote',
  facts: ({ config }) => (config.dryRun ? [] : ['endpoints', 'buildctlVersions']),
  limits: buildctlLimits('buildctl-remote'),
  setup: () => [],
  build(input, facts) {
    const endpoint = chosenEndpoint(input, facts);
    const tls = tlsFiles(input.config.builder.tls, input.env, input.request.stateDir, '');
    const argv = ['buildctl', '--addr', endpoint, ...buildctlTlsFlags(tls), ...buildctlBuildArgs(input.request, loadTar(input))];
    return { ...buildTitle(input, `on ${endpoint}`), argv, files: tls.files, retry: pushRetry(input.request, input.config.retries) };
  },
  after: loadSteps,
  exports: (input, facts) => ({ BUILDKIT_HOST: chosenEndpoint(input, facts) }),
  builtOn: chosenEndpoint,
  buildkitVersion: (facts) => facts.daemonVersion,
  hint: remoteHint,
};

/** buildctl-daemonless.sh: a private buildkitd for the job (Kubernetes pods without Docker). */
export const buildctlDaemonlessEngine: Engine = {
  name: 'buildctl-daemonless',
  facts: () => [],
  limits: buildctlLimits('buildctl-daemonless'),
  setup: () => [],
  build(input) {
    const flags = input.config.builder.buildkitdFlags;
    return {
      ...buildTitle(input, 'with buildctl-daemonless.sh'),
      argv: ['buildctl-daemonless.sh', ...buildctlBuildArgs(input.request, loadTar(input))],
      env: flags === undefined ? undefined : { BUILDKITD_FLAGS: flags },
      // The script starts buildkitd in the background and stops it only when it exits
      // normally: a cancel must reach the daemon too.
      processGroup: true,
      retry: pushRetry(input.request, input.config.retries),
    };
  },
  after: loadSteps,
  exports: () => ({}),
  builtOn: () => 'buildctl-daemonless.sh',
  buildkitVersion: () => undefined,
  hint: () => undefined,
};

function buildTitle({ request }: EngineInput, where: string): Pick<Step, 'title' | 'group'> {
  const title = buildingTitle(request, where);
  return { title, group: title };
}

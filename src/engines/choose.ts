import { PlanError } from '../plan/plan-error';
import { buildctlDaemonlessEngine, buildctlRemoteEngine } from './buildctl';
import { builderName, buildxKubernetesEngine, buildxRemoteEngine, dockerContainerEngine } from './buildx-builder';
import { classicStoreLimits, dockerDriverLimits } from './classic-store';
import { dockerEngine } from './docker';
import { Engine, EngineInput, Fact, Facts } from './engine';
import { remoteEndpoints } from './remote-endpoints';

export interface EngineChoice {
  engine: Engine;
  /** Why this engine, for the log. */
  reason: string;
  /** Said in the log and the annotation when the plugin chose something the user may not expect. */
  notice?: string;
  /** A warning in the log and the annotation: the build does less than asked. */
  warning?: string;
}

/** Every fact the choice and the engines it may choose read: the probes worth running. */
export function factsToProbe(input: EngineInput, facts: Facts): Fact[] {
  const { driver } = input.config.builder;
  const remote = remoteEndpoints(input).endpoints.length > 0;
  const wanted = new Set<Fact>();
  const add = (engine: Engine) => engine.facts(input).forEach((fact) => wanted.add(fact));
  if (driver === 'remote' || (driver === 'auto' && remote)) {
    add(remoteEngine(input, facts));
  } else if (driver === 'daemonless') {
    add(buildctlDaemonlessEngine);
  } else if (driver === 'kubernetes') {
    add(buildxKubernetesEngine);
  } else {
    if (driver !== 'docker-container') add(dockerEngine);
    if (driver !== 'docker') add(dockerContainerEngine);
    // Docker and daemonless both on PATH: only then does it matter whether Docker answers.
    if (driver === 'auto' && facts.dockerCli && facts.daemonless) wanted.add('dockerReachable');
  }
  return [...wanted];
}

/** Which engine builds: a pure function of the configuration, the request and the facts. */
export function chooseEngine(input: EngineInput, facts: Facts): EngineChoice {
  const choice = chooseByDriver(input, facts);
  const limits = choice.engine.limits(input, facts);
  if (limits.length > 0) throw new PlanError(limits.join('\n'));
  return choice;
}

function chooseByDriver(input: EngineInput, facts: Facts): EngineChoice {
  const { builder } = input.config;
  const remote = remoteEndpoints(input);
  switch (builder.driver) {
    case 'remote':
      if (remote.endpoints.length === 0) {
        throw new PlanError("builder.driver: remote needs builder.endpoint (or builder.nodes), or BUILDKIT_HOST in the agent's environment");
      }
      return { engine: remoteEngine(input, facts), reason: `builder.driver is remote (${remote.from})` };
    case 'daemonless':
      if (facts.daemonless === false && !input.config.dryRun) {
        throw new PlanError('builder.driver: daemonless needs buildctl-daemonless.sh (and buildctl, buildkitd) on PATH, as in the moby/buildkit images');
      }
      return { engine: buildctlDaemonlessEngine, reason: 'builder.driver is daemonless' };
    case 'kubernetes':
      if (builder.endpoints.length > 0)
        throw new PlanError('builder.endpoint: the kubernetes driver creates its builders in the cluster; it takes no endpoint');
      noDockerCli(input, facts);
      return { engine: buildxKubernetesEngine, reason: 'builder.driver is kubernetes (BuildKit pods in the cluster)' };
    case 'docker':
    case 'docker-container':
      if (builder.endpoints.length > 0 || builder.nodes.length > 0) {
        throw new PlanError(`builder.endpoint: a remote builder is used with builder.driver remote or auto, not ${builder.driver}`);
      }
      noDockerCli(input, facts);
      return builder.driver === 'docker-container'
        ? { engine: dockerContainerEngine, reason: 'builder.driver is docker-container' }
        : dockerOrContainer(input, facts);
    default:
      if (builder.endpoints.length > 0 || builder.nodes.length > 0) return { engine: remoteEngine(input, facts), reason: `${remote.from} is set` };
      if (remote.from === 'BUILDKIT_HOST')
        return { engine: remoteEngine(input, facts), reason: "BUILDKIT_HOST is set in the agent's environment (its builder fleet)" };
      if (facts.dockerCli !== false && facts.dockerReachable !== false) return dockerOrContainer(input, facts);
      if (facts.daemonless) return { engine: buildctlDaemonlessEngine, reason: 'buildctl-daemonless.sh is on PATH and no Docker engine answers' };
      if (input.config.dryRun) return dockerOrContainer(input, facts);
      throw new PlanError(
        `no BuildKit engine found: the docker CLI is ${facts.dockerCli ? 'on PATH but no Docker engine answers' : 'not on PATH'}. Give the step one of: ` +
          '(1) builder.endpoint: tcp://HOST:1234, a remote buildkitd; ' +
          "(2) BUILDKIT_HOST in the agent's environment, its builder fleet; " +
          '(3) Docker with the buildx plugin on the agent (the Elastic CI Stack has it); ' +
          '(4) buildctl-daemonless.sh, buildctl and buildkitd on PATH (the moby/buildkit image, in Kubernetes)',
      );
  }
}

/** `builder.client`: buildx's remote driver when `docker buildx` is there, else buildctl. */
function remoteEngine(input: EngineInput, facts: Facts): Engine {
  const { client } = input.config.builder;
  if (client === 'buildx') return buildxRemoteEngine;
  if (client === 'buildctl') return buildctlRemoteEngine;
  return facts.dockerCli === false || facts.buildxPlugin === false ? buildctlRemoteEngine : buildxRemoteEngine;
}

function noDockerCli(input: EngineInput, facts: Facts): void {
  if (facts.dockerCli === false && !input.config.dryRun) {
    throw new PlanError(
      `no BuildKit engine found: the docker CLI is not on PATH, and builder.driver is ${input.config.builder.driver}. Install Docker with the buildx plugin on the agent, ` +
        'or use builder.driver: remote or daemonless',
    );
  }
}

/** The Docker engine's own BuildKit, unless it cannot do the build (its classic image store, or buildx's docker driver). */
function dockerOrContainer(input: EngineInput, facts: Facts): EngineChoice {
  const store = facts.imageStore === 'classic' ? classicStoreLimits(input.request) : [];
  const driver = dockerDriverLimits(input.request);
  const pinned = input.config.builder.driver === 'docker';
  // The engine unpacks what its BuildKit exports: "rewrite-timestamp conflicts with unpack".
  const stamps = input.request.rewriteTimestamp;
  if (store.length + driver.length === 0 && !(stamps && !pinned)) {
    const engine = { engine: dockerEngine, reason: 'a Docker engine is here, and its own BuildKit can do this build' };
    if (!stamps) return engine;
    return {
      ...engine,
      warning:
        "reproducible: the Docker engine's own BuildKit cannot rewrite layer timestamps (rewrite-timestamp conflicts with unpacking into its image store): " +
        `only the image config's timestamps are fixed (SOURCE_DATE_EPOCH=${input.request.sourceDateEpoch}), and the digest may differ from build to build; ` +
        'let the plugin use a per-job builder (builder.driver: auto or docker-container) for byte-identical images',
    };
  }
  const reason = [
    ...(store.length > 0 ? [`the engine's classic image store cannot do ${store.join(' or ')}`] : []),
    ...(driver.length > 0 ? [`buildx's docker driver cannot use ${driver.join(' or ')}`] : []),
    ...(stamps && !pinned ? ["the engine's own BuildKit cannot rewrite layer timestamps (reproducible: rewrite-timestamp conflicts with unpack)"] : []),
  ].join('; ');
  if (pinned) {
    const containerd =
      store.length > 0 ? 'Either enable the containerd image store on the agent (daemon.json: {"features":{"containerd-snapshotter":true}}), or let ' : 'Let ';
    throw new PlanError(
      `builder.driver: ${reason.replace("the engine's", "the Docker engine's")}. ${containerd}the plugin use a per-job builder (builder.driver: auto or docker-container)`,
    );
  }
  return {
    engine: dockerContainerEngine,
    reason,
    notice: `using a per-job docker-container builder (${builderName(input.config.builder, input.env)}): ${reason}`,
  };
}

import { PlanError } from '../plan/plan-error';
import { dockerEngine } from './docker';
import { builderName, dockerContainerEngine } from './docker-container';
import { Engine, EngineInput, Fact, Facts } from './engine';

export interface EngineChoice {
  engine: Engine;
  /** Why this engine, for the log; a notice when the plugin chose for the user. */
  reason: string;
  notice?: string;
}

/** The engines `builder.driver` allows, in the order `auto` prefers them. */
function candidates(input: EngineInput): Engine[] {
  switch (input.config.builder.driver) {
    case 'docker':
      return [dockerEngine];
    case 'docker-container':
      return [dockerContainerEngine];
    default:
      return [dockerEngine, dockerContainerEngine];
  }
}

/** Every fact the choice and the engines it may choose read: the probes worth running. */
export function factsToProbe(input: EngineInput): Fact[] {
  return [...new Set(candidates(input).flatMap((engine) => engine.facts(input)))];
}

/** Which engine builds: a pure function of the configuration, the request and the facts. */
export function chooseEngine(input: EngineInput, facts: Facts): EngineChoice {
  if (facts.dockerCli === false && !input.config.dryRun) {
    throw new PlanError(
      'no BuildKit engine found: the docker CLI is not on PATH. Install Docker with the buildx plugin on the agent, ' +
        'or run the step on an agent that has it',
    );
  }
  const { driver } = input.config.builder;
  if (driver === 'docker-container') return { engine: dockerContainerEngine, reason: 'builder.driver is docker-container' };
  const limits = dockerEngine.limits(input, facts);
  if (limits.length === 0) return { engine: dockerEngine, reason: "the Docker engine's own BuildKit can do this build" };
  if (driver === 'docker') {
    throw new PlanError(
      `builder.driver: the Docker engine's classic image store cannot do ${limits.join(' or ')}. Either enable the ` +
        'containerd image store on the agent (daemon.json: {"features":{"containerd-snapshotter":true}}), or let the plugin ' +
        'use a per-job builder (builder.driver: auto or docker-container)',
    );
  }
  const reason = `the engine's classic image store cannot do ${limits.join(' or ')}`;
  return {
    engine: dockerContainerEngine,
    reason,
    notice: `using a per-job docker-container builder (${builderName(input.config.builder, input.env)}): ${reason}`,
  };
}

import { Config } from '../config/types';
import { buildxBuildArgs } from '../engines/buildx';
import { planBuildRequest } from './build-request';

type Env = Record<string, string | undefined>;

export interface Command {
  argv: string[];
  title: string;
}

/** Everything the command hook will do, decided without side effects. */
export interface Plan {
  engine: 'buildx';
  build: Command;
  refs: string[];
  push: boolean;
  metadataFile: string;
  notices: string[];
}

export interface Probes {
  /** The docker CLI is on PATH. */
  docker: boolean;
}

export function planJob(config: Config, env: Env, stateDir: string, probes: Probes): Plan {
  if (!probes.docker) {
    throw new PlanError(
      'no BuildKit engine found: the docker CLI is not on PATH. Install Docker with the buildx plugin on the agent, ' +
        'or run the step on an agent that has it',
    );
  }
  const { request, notices } = planBuildRequest(config, env, stateDir);
  const what = request.refs.length > 0 ? request.refs.join(', ') : request.context;
  return {
    engine: 'buildx',
    build: { argv: ['docker', ...buildxBuildArgs(request)], title: `:docker: Building ${what}` },
    refs: request.refs,
    push: request.push,
    metadataFile: request.metadataFile,
    notices,
  };
}

export class PlanError extends Error {}

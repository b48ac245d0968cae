import { Config } from '../config/types';
import { buildxBuildArgs } from '../engines/buildx';
import { bakeArgs } from '../engines/bake';
import { planBuildRequest, pushes } from './build-request';
import { BuilderPlan, ImageStore, planBuilder } from './builder';
import { PlanError } from './plan-error';
import { versionWarnings } from './version-gates';

type Env = Record<string, string | undefined>;

export interface Command {
  argv: string[];
  title: string;
}

/** Everything the command hook will do, decided without side effects. */
export interface Plan {
  engine: 'buildx';
  builder: BuilderPlan;
  build: Command;
  bake: boolean;
  refs: string[];
  platforms: string[];
  /** The build pushes (the `push` option or a pushing output). */
  push: boolean;
  metadataFile: string;
  notices: string[];
  warnings: string[];
}

export interface Probes {
  /** The docker CLI is on PATH. */
  docker: boolean;
  imageStore?: ImageStore;
  buildxVersion?: string;
  buildkitVersion?: string;
  now: Date;
}

export function planJob(config: Config, env: Env, stateDir: string, probes: Probes): Plan {
  if (!probes.docker && !config.dryRun) {
    throw new PlanError(
      'no BuildKit engine found: the docker CLI is not on PATH. Install Docker with the buildx plugin on the agent, ' +
        'or run the step on an agent that has it',
    );
  }
  const builder = planBuilder(config, env, probes.imageStore);
  const { request, notices } = planBuildRequest(config, env, stateDir, probes.now);
  if (builder.notice) notices.push(builder.notice);
  // The probed BuildKit is the engine's; a per-job builder brings its own.
  const buildkit = builder.driver === 'docker' ? probes.buildkitVersion : undefined;
  const warnings = versionWarnings(config, { buildx: probes.buildxVersion, buildkit });
  const common = { engine: 'buildx' as const, builder, push: pushes(request), metadataFile: request.metadataFile, notices, warnings };
  if (config.bake) {
    const argv = ['docker', ...bakeArgs(config, request, builder.name)];
    const what = config.bake.targets.length > 0 ? config.bake.targets.join(', ') : 'the default group';
    return { ...common, build: { argv, title: `:docker: Baking ${what}` }, bake: true, refs: [], platforms: [] };
  }
  const what = request.refs.length > 0 ? request.refs.join(', ') : request.context;
  return {
    ...common,
    build: { argv: ['docker', ...buildxBuildArgs(request, builder.name)], title: `:docker: Building ${what}` },
    bake: false,
    refs: request.refs,
    platforms: request.platforms,
  };
}

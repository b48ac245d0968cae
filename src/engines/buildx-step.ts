import { BuildRequest } from '../plan/build-request';
import { Step } from '../plan/step';
import { isTransientPushFailure } from '../run/retry';
import { buildxBakeArgv, buildxBuildArgv } from './buildx-args';
import { EngineInput } from './engine';

/** The log group of a build: what it builds, and where when that is not the agent's engine. */
export function buildingTitle(request: BuildRequest, where?: string): string {
  return `:docker: Building ${request.refs.length > 0 ? request.refs.join(', ') : request.context}${where ? ` ${where}` : ''}`;
}

/** The build (or bake) step on a buildx builder: the engine's own, or the named one. */
export function buildxStep({ config, request }: EngineInput, builder?: string): Step {
  const title = config.bake
    ? `:docker: Baking ${config.bake.targets.length > 0 ? config.bake.targets.join(', ') : 'the default group'}`
    : buildingTitle(request);
  return {
    title,
    group: title,
    argv: config.bake ? buildxBakeArgv(config.bake, request, builder) : buildxBuildArgv(request, builder),
    retry: pushRetry(request, config.retries),
  };
}

export function pushRetry(request: BuildRequest, attempts: number): Step['retry'] {
  if (!request.pushes || attempts === 0) return undefined;
  return { attempts, when: isTransientPushFailure, what: 'the push failed with a transient registry error' };
}

import { loadConfig } from '../config/load-config';
import { Config } from '../config/types';
import { planBuildRequest } from '../plan/build-request';
import { Plan, planJob } from '../plan/plan';
import { PlanError } from '../plan/plan-error';
import { UserError } from './hook-main';
import { stateDirPath } from './state-dir';

export interface LoadedConfig {
  config: Config;
  notices: string[];
}

/** The configuration, or a UserError listing every problem with its option path. */
export function configOrFail(env: NodeJS.ProcessEnv): LoadedConfig {
  const loaded = loadConfig(env);
  if (!loaded.ok) {
    throw new UserError('the buildkit plugin configuration is invalid:', loaded.errors);
  }
  return loaded;
}

/**
 * Everything that can be checked before the checkout and without probing the agent: the
 * configuration, and a plan made with nothing known about the engine.
 */
export function checkJob(env: NodeJS.ProcessEnv, now = new Date()): Plan {
  const { config } = configOrFail(env);
  return planOrFail(() => planJob(config, planBuildRequest(config, env, stateDirPath(env), now), env, {}));
}

/** The plan, or its PlanError as a UserError: one clear message, no stack trace. */
export function planOrFail(plan: () => Plan): Plan {
  try {
    return plan();
  } catch (error) {
    if (error instanceof PlanError) throw new UserError(error.message);
    throw error;
  }
}

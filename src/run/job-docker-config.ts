import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LoginPlan, logsIn } from '../plan/registry-logins';
import { dockerConfigDir, jobDockerConfig } from '../registry/docker-config';
import { writeExports } from './exports';
import { pluginDir } from './plugin-dir';

/**
 * Points a job that logs in at its own Docker config, for every client and later hook: made
 * by the environment hook, or by the command hook when that one ran in another container.
 */
export function useJobDockerConfig(plan: LoginPlan, env: Record<string, string | undefined>, stateDir: string): void {
  if (!logsIn(plan)) return;
  const dir = dockerConfigDir(stateDir);
  if (env.DOCKER_CONFIG === dir && existsSync(join(dir, 'config.json'))) return;
  const exports = jobDockerConfig(stateDir, plan, env, pluginDir());
  Object.assign(env, exports);
  writeExports(exports, env);
}

import { logsIn } from '../plan/registry-logins';
import { jobDockerConfig } from '../registry/docker-config';
import { checkJob } from '../run/config-or-fail';
import { pluginDir } from '../run/plugin-dir';
import { writeExports } from '../run/exports';
import { hookMain } from '../run/hook-main';
import { createStateDir, stateDirPath } from '../run/state-dir';

hookMain(async () => {
  const plan = checkJob(process.env);
  const stateDir = stateDirPath(process.env);
  createStateDir(stateDir);
  // The job's own Docker config, when it logs in: every client and the step command use it.
  const dockerConfig = logsIn(plan.logins) ? jobDockerConfig(stateDir, plan.logins, process.env, pluginDir()) : {};
  // BUILDKIT_HOST of a remote builder, for the step command (the command hook may fail over).
  writeExports({ BUILDKIT_PLUGIN_STATE_DIR: stateDir, ...plan.exports, ...dockerConfig });
  return 0;
});

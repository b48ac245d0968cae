import { checkJob } from '../run/config-or-fail';
import { writeExports } from '../run/exports';
import { hookMain } from '../run/hook-main';
import { useJobDockerConfig } from '../run/job-docker-config';
import { createStateDir, stateDirPath } from '../run/state-dir';

hookMain(async () => {
  const plan = checkJob(process.env);
  const stateDir = stateDirPath(process.env);
  createStateDir(stateDir);
  // BUILDKIT_HOST of a remote builder, for the step command (the command hook may fail over).
  writeExports({ BUILDKIT_PLUGIN_STATE_DIR: stateDir, ...plan.exports });
  useJobDockerConfig(plan.logins, process.env, stateDir);
  return 0;
});

import { checkJob } from '../run/config-or-fail';
import { writeExports } from '../run/exports';
import { hookMain } from '../run/hook-main';
import { createStateDir, stateDirPath } from '../run/state-dir';

hookMain(async () => {
  checkJob(process.env);
  const stateDir = stateDirPath(process.env);
  createStateDir(stateDir);
  writeExports({ BUILDKIT_PLUGIN_STATE_DIR: stateDir });
  return 0;
});

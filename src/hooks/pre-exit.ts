import { runCleanups } from '../run/cleanup';
import { hookMain } from '../run/hook-main';
import { removeStateDir, stateDirPath } from '../run/state-dir';

hookMain(async () => {
  const stateDir = stateDirPath(process.env);
  await runCleanups(stateDir, process.env);
  removeStateDir(stateDir);
  return 0;
});

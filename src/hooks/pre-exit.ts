import { hookMain } from '../run/hook-main';
import { removeStateDir, stateDirPath } from '../run/state-dir';

hookMain(async () => {
  removeStateDir(stateDirPath(process.env));
  return 0;
});

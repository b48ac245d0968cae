import { configOrFail } from '../run/config-or-fail';
import { hookMain } from '../run/hook-main';
import { runBuildJob } from '../run/build-job';

hookMain(async () => {
  const { config, notices } = configOrFail(process.env);
  return runBuildJob(config, notices, process.env);
});

import { configOrFail } from '../run/config-or-fail';
import { hookMain } from '../run/hook-main';
import { runBuildJob } from '../run/build-job';
import { runPromoteJob } from '../run/promote-job';

hookMain(async () => {
  const { config, notices } = configOrFail(process.env);
  return config.promote ? runPromoteJob(config, config.promote, notices, process.env) : runBuildJob(config, notices, process.env);
});

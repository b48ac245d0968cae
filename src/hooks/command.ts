import { configOrFail } from '../run/config-or-fail';
import { hookMain } from '../run/hook-main';
import { runBuildJob } from '../run/build-job';
import { runPromoteJob } from '../run/promote-job';
import { runMergeJob } from '../run/merge-job';

hookMain(async () => {
  const { config, notices } = configOrFail(process.env);
  if (config.promote) return runPromoteJob(config, config.promote, notices, process.env);
  if (config.merge) return runMergeJob(config, config.merge, notices, process.env);
  return runBuildJob(config, notices, process.env);
});

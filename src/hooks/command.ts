import { configOrFail } from '../run/config-or-fail';
import { hookMain } from '../run/hook-main';
import { runBuildJob } from '../run/build-job';

hookMain(async () => runBuildJob(configOrFail(process.env), process.env));

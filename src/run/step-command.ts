import { log } from './log';
import { Runtime } from './runtime';

/**
 * The step's own `command`, which the agent leaves to a plugin that has a command hook:
 * run as the agent would, with its shell (BUILDKITE_SHELL, default `/bin/bash -e -c`).
 */
export async function runStepCommand(env: NodeJS.ProcessEnv, runtime: Runtime): Promise<number> {
  const command = env.BUILDKITE_COMMAND ?? '';
  if (command.trim() === '') return 0;
  const shell = (env.BUILDKITE_SHELL || '/bin/bash -e -c').split(/\s+/).filter(Boolean);
  log.group(':buildkite: Running the step command');
  const { code } = await runtime.exec([...shell, command], { env });
  return code;
}

import { log } from './log';
import { Runtime } from './runtime';

/**
 * The step's own `command`, which the agent leaves to a plugin that has a command hook:
 * run as the agent would, with its shell (BUILDKITE_SHELL, default `/bin/bash -e -c`).
 */
export async function runStepCommand(env: NodeJS.ProcessEnv, runtime: Runtime): Promise<number> {
  const command = env.BUILDKITE_COMMAND ?? '';
  if (command.trim() === '') return 0;
  log.group(':buildkite: Running the step command');
  const { code } = await runtime.exec([...agentShell(env), command], { env });
  return code;
}

/** The agent's shell for commands: BUILDKITE_SHELL, default `/bin/bash -e -c`. */
export function agentShell(env: NodeJS.ProcessEnv): string[] {
  return (env.BUILDKITE_SHELL || '/bin/bash -e -c').split(/\s+/).filter(Boolean);
}

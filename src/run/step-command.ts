import { chmodSync, statSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { log } from './log';
import { Runtime } from './runtime';

/**
 * The step's own `command`, which the agent leaves to a plugin that has a command hook:
 * run as the agent would, with its shell (BUILDKITE_SHELL, default `/bin/bash -e -c`), and
 * refused as the agent refuses it when the agent was started with `--no-command-eval`.
 */
export async function runStepCommand(env: NodeJS.ProcessEnv, runtime: Runtime): Promise<number> {
  const command = env.BUILDKITE_COMMAND ?? '';
  if (command.trim() === '') return 0;
  if (env.BUILDKITE_COMMAND_EVAL === 'false') return runScriptOnly(command, env, runtime);
  log.group(':buildkite: Running the step command');
  const { code } = await runtime.exec([...agentShell(env), command], { env });
  return code;
}

/**
 * Without command eval the agent runs only a script of the checkout, named by the command,
 * and never evaluates the command itself; these are its messages.
 */
async function runScriptOnly(command: string, env: NodeJS.ProcessEnv, runtime: Runtime): Promise<number> {
  const name = command.replace(/\n/g, '');
  const checkout = resolve(env.BUILDKITE_BUILD_CHECKOUT_PATH || process.cwd());
  const script = resolve(checkout, name);
  const isFile = (() => {
    try {
      return statSync(script).isFile();
    } catch {
      return false;
    }
  })();
  const advice =
    're-run this agent without the `--no-command-eval` option, or specify a script within your repository to run instead (such as scripts/test.sh)';
  if (!isFile) {
    log.error(`No such file: "${name}"`);
    log.error(`This agent is not allowed to evaluate console commands. To allow this, ${advice}.`);
    return 1;
  }
  if (!script.startsWith(checkout + sep)) {
    log.error(`This agent is only allowed to run scripts within your repository. To allow this, ${advice}.`);
    return 1;
  }
  log.group(':buildkite: Running build script');
  // As the agent does: the script is made executable and run itself, never through a shell -c.
  chmodSync(script, statSync(script).mode | 0o111);
  const { code } = await runtime.exec([script], { env });
  return code;
}

/** The agent's shell for commands: BUILDKITE_SHELL, default `/bin/bash -e -c`. */
export function agentShell(env: NodeJS.ProcessEnv): string[] {
  return (env.BUILDKITE_SHELL || '/bin/bash -e -c').split(/\s+/).filter(Boolean);
}

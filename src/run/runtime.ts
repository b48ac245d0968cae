import { AgentClient, agentClient } from '../agent/buildkite-agent';
import { ExecOptions, ExecResult, cancellation, exec } from './exec';
import { which } from './which';

/** Everything the job does to the outside world; tests pass their own. */
export interface Runtime {
  exec(argv: string[], options?: ExecOptions): Promise<ExecResult>;
  /** The signal that cancelled the job, once one has. */
  cancelled(): NodeJS.Signals | undefined;
  agent: AgentClient;
  which(name: string, path?: string): string | undefined;
  sleep(ms: number): Promise<void>;
  now(): Date;
}

export function processRuntime(): Runtime {
  return {
    exec,
    cancelled: cancellation,
    agent: agentClient(exec, (name) => which(name)),
    which,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    now: () => new Date(),
  };
}

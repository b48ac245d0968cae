/** A command pre-exit runs to undo what a step set up; kept in the job's state dir. */
export interface CleanupStep {
  argv: string[];
  title: string;
}

/** A file written into the job's private state dir before the step runs. */
export interface StateFile {
  /** A name inside the state dir. */
  name: string;
  content: string;
  mode: number;
}

/**
 * One command of a plan. The executor (run/execute-steps.ts) runs steps in order; dry-run
 * prints the same list.
 */
export interface Step {
  title: string;
  argv: string[];
  /** Variables added to the job's environment for this command only. */
  env?: Record<string, string>;
  files?: StateFile[];
  /** Registered before the command runs, so pre-exit undoes even a half-done step. */
  cleanup?: CleanupStep;
  /** When this command succeeds, the step's work exists already and is reused. */
  reuseIf?: { argv: string[]; notice: string };
  /** A failure whose output has this text means another job just did the same: reuse it. */
  doneByOtherJob?: { text: string; notice: string };
  /** Housekeeping: output discarded, failure ignored. */
  quiet?: boolean;
  /** Opens a log group with this title. */
  group?: string;
  /** Killed after this long (waiting for Kubernetes pods); the failure then says it timed out. */
  timeoutMs?: number;
  /** Runs in a process group of its own, and a cancel signals the whole group. */
  processGroup?: boolean;
  /** Retries of a failed run, when the failure's output says it is worth it. */
  retry?: { attempts: number; when: (outputTail: string[]) => boolean; what: string };
}

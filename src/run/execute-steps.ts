import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Step } from '../plan/step';
import { registerCleanup } from './cleanup';
import { cancelledStatus } from './exec';
import { log } from './log';
import { backoffSeconds } from './retry';
import { Runtime } from './runtime';
import { shellCommand } from './shell-quote';

export interface StepsContext {
  runtime: Runtime;
  env: NodeJS.ProcessEnv;
  stateDir: string;
  /** Reads one step's output line by line as it runs (the build's progress). */
  observe?: { step: Step; line: (text: string) => void };
}

export interface StepOutcome {
  code: number;
  /** The end of the failing command's output, where its error is. */
  tail: string[];
  /** The step that failed. */
  failed?: Step;
  /** It failed because it ran longer than its time limit. */
  timedOut?: boolean;
}

const tailLines = 40;

/** Runs steps in order and stops at the first that fails (or when the job is cancelled). */
export async function executeSteps(steps: Step[], context: StepsContext): Promise<StepOutcome> {
  for (const step of steps) {
    // A cancelled job starts nothing more (the signal came between two steps, or before).
    const cancelled = context.runtime.cancelled();
    if (cancelled) return { code: cancelledStatus(cancelled), tail: [], failed: step };
    const outcome = await executeStep(step, context);
    if (outcome.code !== 0) return { ...outcome, failed: step };
  }
  return { code: 0, tail: [] };
}

async function executeStep(step: Step, { runtime, env, stateDir, observe }: StepsContext): Promise<Omit<StepOutcome, 'failed'>> {
  const done = { code: 0, tail: [] };
  if (step.group) log.group(step.group);
  if (step.reuseIf && (await runtime.exec(step.reuseIf.argv, { env, quiet: true })).code === 0) {
    log.info(`buildkit: ${step.reuseIf.notice}`);
    return done;
  }
  if (step.cleanup) registerCleanup(stateDir, step.cleanup);
  for (const file of step.files ?? []) writeFileSync(join(stateDir, file.name), file.content, { mode: file.mode });
  // Its own process group, which only the hook signals (in stages, see exec.ts): the
  // agent's signal to the hook's group never reaches the docker CLI half-started.
  const options = {
    env: step.env ? { ...env, ...step.env } : env,
    processGroup: step.processGroup,
    ownGroup: !step.processGroup,
    timeoutMs: step.timeoutMs,
  };
  if (step.quiet) {
    await runtime.exec(step.argv, { ...options, quiet: true });
    return done;
  }
  for (let attempt = 0; ; attempt++) {
    if (attempt > 0) log.group(`${step.group ?? step.title} (retry ${attempt} of ${step.retry?.attempts})`);
    log.info(`$ ${shellCommand(step.argv)}`);
    const result = await runtime.exec(step.argv, { ...options, tailLines, onLine: observe?.step === step ? observe.line : undefined });
    const { code } = result;
    if (code === 0) return done;
    const tail = result.timedOut ? [...result.tail, `buildkit: timed out after ${Math.round((step.timeoutMs ?? 0) / 1000)} s`] : result.tail;
    if (step.doneByOtherJob && tail.some((line) => line.includes(step.doneByOtherJob?.text ?? ''))) {
      log.info(`buildkit: ${step.doneByOtherJob.notice}`);
      return done;
    }
    const { retry } = step;
    if (result.timedOut) return { code, tail, timedOut: true };
    if (runtime.cancelled() || !retry || attempt >= retry.attempts || !retry.when(tail)) return { code, tail };
    const delay = backoffSeconds(attempt + 1);
    log.warn(`${retry.what}; retrying in ${delay} s (${attempt + 1} of ${retry.attempts})`);
    await runtime.sleep(delay * 1000);
  }
}

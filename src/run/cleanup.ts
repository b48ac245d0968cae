import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CleanupStep } from '../plan/step';
import { exec } from './exec';
import { log } from './log';

const manifest = (stateDir: string) => join(stateDir, 'cleanup.json');

/** Records what pre-exit must undo, in the job's state dir (which pre-exit can always find). */
export function registerCleanup(stateDir: string, step: CleanupStep): void {
  const steps = readCleanups(stateDir);
  steps.push(step);
  writeFileSync(manifest(stateDir), JSON.stringify(steps), { mode: 0o600 });
}

function readCleanups(stateDir: string): CleanupStep[] {
  const file = manifest(stateDir);
  if (!existsSync(file)) return [];
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as CleanupStep[];
  } catch {
    log.warn(`${file} is unreadable; nothing to clean up from it`);
    return [];
  }
}

/** Runs every registered step, newest first, within the few seconds the agent allows. */
export async function runCleanups(stateDir: string, env: NodeJS.ProcessEnv, budgetMs = 7000): Promise<void> {
  const deadline = Date.now() + budgetMs;
  for (const step of readCleanups(stateDir).reverse()) {
    const left = deadline - Date.now();
    if (left <= 0) {
      log.warn(`no time left to ${step.title}`);
      continue;
    }
    log.info(`buildkit: ${step.title}`);
    const { code } = await exec(step.argv, { env, timeoutMs: left, input: '' });
    if (code !== 0) log.warn(`${step.title} failed (exit ${code})`);
  }
}

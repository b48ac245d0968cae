import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shellQuote } from '../run/shell-quote';

export type Env = Record<string, string>;

export interface HookOutcome {
  code: number;
  env: Env;
  exitedEarly: boolean;
  /** Set when the hook could not be started at all (E2BIG, a NUL byte in a variable): it did not run. */
  startError?: NodeJS.ErrnoException;
}

export interface RunningHook {
  done: Promise<HookOutcome>;
  /** Cancels as the agent does: SIGTERM to the hook's process group, SIGKILL after the grace period. */
  cancel(graceSeconds: number, shellOnly?: boolean): void;
}

const ignoredChanges = new Set(['_', 'SHLVL', 'PWD', 'OLDPWD', 'BUILDKITE_HOOK_EXIT_STATUS', 'BUILDKITE_HOOK_WORKING_DIR']);

/**
 * Runs a hook the way the agent does: sourced by a wrapper script in its own process
 * group, with the environment dumped afterwards so exports reach later hooks.
 */
export function runHook(hookPath: string, env: Env, cwd: string): RunningHook {
  const dir = mkdtempSync(join(tmpdir(), 'buildkit-local-hook-'));
  const after = join(dir, 'after-env');
  const wrapper = join(dir, 'wrapper');
  let child: ReturnType<typeof spawn>;
  try {
    writeFileSync(after, '');
    writeFileSync(
      wrapper,
      [
        '#!/bin/bash',
        `. ${shellQuote(hookPath)}`,
        'export BUILDKITE_HOOK_EXIT_STATUS=$?',
        `env -0 > ${shellQuote(after)}`,
        'exit $BUILDKITE_HOOK_EXIT_STATUS',
        '',
      ].join('\n'),
      { mode: 0o700 },
    );
    child = spawn('/bin/bash', [wrapper], { env, cwd, stdio: 'inherit', detached: true });
  } catch (error) {
    // As the agent's exec fails: the hook never runs; nothing of it is left behind.
    rmSync(dir, { recursive: true, force: true });
    return { done: Promise.resolve({ code: 1, env, exitedEarly: false, startError: error as NodeJS.ErrnoException }), cancel() {} };
  }
  let killTimer: NodeJS.Timeout | undefined;
  const done = new Promise<HookOutcome>((resolve) => {
    let startError: NodeJS.ErrnoException | undefined;
    child.on('error', (error) => {
      startError = error;
    });
    child.on('close', (code, signal) => {
      if (killTimer) clearTimeout(killTimer);
      let dumped = '';
      try {
        dumped = readFileSync(after, 'utf8');
      } catch {
        // removed by the hook itself
      }
      rmSync(dir, { recursive: true, force: true });
      if (startError) {
        resolve({ code: 1, env, exitedEarly: false, startError });
        return;
      }
      const exitedEarly = dumped === '';
      resolve({ code: code ?? (signal === 'SIGKILL' ? 137 : 143), env: exitedEarly ? env : applyChanges(env, parseEnv(dumped)), exitedEarly });
    });
  });
  return {
    done,
    cancel(graceSeconds: number, shellOnly = false) {
      // The agent signals the hook's process group; some set-ups reach only its shell.
      if (shellOnly) child.kill('SIGTERM');
      else signalGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => signalGroup(child.pid, 'SIGKILL'), graceSeconds * 1000);
    },
  };
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function parseEnv(dump: string): Env {
  const env: Env = {};
  for (const entry of dump.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

function applyChanges(before: Env, after: Env): Env {
  const result: Env = { ...before };
  for (const [key, value] of Object.entries(after)) if (!ignoredChanges.has(key)) result[key] = value;
  for (const key of Object.keys(before)) if (!(key in after) && !ignoredChanges.has(key)) delete result[key];
  return result;
}

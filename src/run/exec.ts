import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

export interface ExecOptions {
  env?: NodeJS.ProcessEnv;
  input?: string;
  /** Collect stdout and stderr instead of passing them through (probes). */
  capture?: boolean;
  /** Pass output through and also keep its last N lines (for failure reports). */
  tailLines?: number;
  /** With tailLines: called with each whole line of output as it comes. */
  onLine?: (line: string) => void;
  timeoutMs?: number;
  /** Start it in a process group of its own; cancel signals reach the whole group. */
  processGroup?: boolean;
  /**
   * Start it in a process group of its own that only this process signals, in stages, on
   * cancel: the command first, its whole group a second later, SIGKILL to the group after
   * three (`docker buildx build`: see `stopInStages`).
   */
  ownGroup?: boolean;
  /** Discard the command's output (best-effort housekeeping). */
  quiet?: boolean;
}

export interface ExecResult {
  code: number;
  stdout: string;
  /** With `capture` only. */
  stderr: string;
  tail: string[];
  /** Killed when `timeoutMs` ran out. */
  timedOut?: boolean;
}

const forwarded: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
let cancelledBy: NodeJS.Signals | undefined;
/** The running commands' forwarders: each cancel signal reaches every one of them. */
const forwarders = new Set<(signal: NodeJS.Signals) => void>();
let watching = false;

/** The signal that cancelled the job (tools exit 1 on it, not 143). */
export function cancellation(): NodeJS.Signals | undefined {
  return cancelledBy;
}

/** The exit status of a job cancelled by `signal`: 128 + its number, as a shell reports it (SIGTERM: 143). */
export function cancelledStatus(signal: NodeJS.Signals): number {
  return 128 + signalNumber(signal);
}

/**
 * From now on a cancel signal never kills this process: it is recorded (`cancellation()`)
 * and passed on to the running commands, and the hook ends on its own terms. Installed when
 * the hook starts, so a signal between two commands is not lost either; idempotent.
 */
export function watchCancellation(): void {
  if (watching) return;
  watching = true;
  forwarded.forEach((signal) =>
    process.on(signal, () => {
      cancelledBy ??= signal;
      forwarders.forEach((forward) => forward(signal));
    }),
  );
}

/**
 * Runs argv (never through a shell). Signals the hook receives (cancellation) are passed
 * on to the child, and the exit code is the child's (128 + n when it died of signal n).
 */
export function exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const tee = options.tailLines !== undefined;
    const [command = '', ...args] = argv;
    watchCancellation();
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      detached: options.processGroup || options.ownGroup,
      stdio: options.quiet
        ? 'ignore'
        : [options.input === undefined ? 'inherit' : 'pipe', options.capture || tee ? 'pipe' : 'inherit', options.capture || tee ? 'pipe' : 'inherit'],
    });
    let stdout = '';
    let stderr = '';
    const tail = new TailBuffer(options.tailLines ?? 0, options.onLine);
    child.stdout?.on('data', (chunk: Buffer) => {
      if (tee) {
        process.stdout.write(chunk);
        tail.push(chunk);
      } else {
        stdout += chunk.toString();
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      if (options.capture && !tee) {
        stderr += chunk.toString();
        return;
      }
      process.stderr.write(chunk);
      tail.push(chunk);
    });
    // A command that exits without reading its input must not crash the hook (EPIPE).
    child.stdin?.on('error', () => undefined);
    if (options.input !== undefined) child.stdin?.end(options.input);
    let stages: NodeJS.Timeout[] = [];
    const forward = (signal: NodeJS.Signals) => {
      if (options.processGroup && child.pid !== undefined && signalGroupButLeader(child.pid, signal)) return;
      child.kill(signal);
      if (options.ownGroup && child.pid !== undefined && stages.length === 0) stages = stopInStages(child.pid, signal);
    };
    forwarders.add(forward);
    let timedOut = false;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            // A command in a group of its own stops as on a cancel (TERM, then the group, then KILL).
            if (options.ownGroup && child.pid !== undefined) {
              child.kill('SIGTERM');
              if (stages.length === 0) stages = stopInStages(child.pid, 'SIGTERM');
            } else child.kill('SIGKILL');
          }, options.timeoutMs);
    const done = (code: number) => {
      forwarders.delete(forward);
      stages.forEach(clearTimeout);
      if (timer) clearTimeout(timer);
      resolve({ code, stdout, stderr, tail: tail.lines(), ...(timedOut ? { timedOut } : {}) });
    };
    child.on('error', (error: NodeJS.ErrnoException) => {
      process.stderr.write(`buildkit: cannot run ${argv[0]}: ${error.code === 'ENOENT' ? 'not found' : error.message}\n`);
      done(127);
    });
    child.on('close', (code, signal) => {
      const status = code ?? 128 + signalNumber(signal);
      // A cancelled group (a daemon the command started) is waited for: pre-exit must not
      // run while it still holds its sockets and files.
      if (options.processGroup && cancelledBy && child.pid !== undefined) void groupGone(child.pid, 5000).then(() => done(status));
      else {
        // Whatever the cancelled command left in its group (outside the agent's) goes with it.
        if (options.ownGroup && cancelledBy && child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
        done(status);
      }
    });
  });
}

class TailBuffer {
  private kept: string[] = [];
  private partial = '';
  constructor(
    private readonly size: number,
    private readonly onLine?: (line: string) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.size === 0) return;
    const parts = (this.partial + chunk.toString()).split('\n');
    this.partial = parts.pop() ?? '';
    if (this.onLine) parts.forEach(this.onLine);
    this.kept.push(...parts);
    if (this.kept.length > this.size) this.kept = this.kept.slice(-this.size);
  }

  lines(): string[] {
    return [...this.kept, ...(this.partial ? [this.partial] : [])].slice(-this.size || undefined);
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const numbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return signal ? (numbers[signal] ?? 1) : 1;
}

/**
 * The stages after the cancel signal went to the command alone. The docker CLI (28) runs
 * `docker-buildx` as a child and cancels it through a socket: a signal that reaches the CLI
 * before the plugin has connected to that socket is used up, and the build runs on (and a
 * signal to the whole group while the CLI checks the plugin, `docker-buildx
 * docker-cli-plugin-metadata`, makes it print `unknown flag: --progress`, exit 125). So the
 * command gets the signal alone first; one second later, if it still runs, its whole group
 * (`docker-buildx` cancels its build on SIGTERM); after three seconds SIGKILL to the group
 * (BuildKit cancels a build whose client is gone). All well inside the agent's grace period
 * (default 10 s).
 */
function stopInStages(pgid: number, signal: NodeJS.Signals): NodeJS.Timeout[] {
  return [setTimeout(() => signalGroup(pgid, signal), 1000), setTimeout(() => signalGroup(pgid, 'SIGKILL'), 3000)];
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // gone already
  }
}

/**
 * Signals every process of the group but its leader, so that a leader which is a script
 * (buildctl-daemonless.sh) sees its commands end and runs its own clean-up (its EXIT trap
 * stops the daemon and removes its temporary directory; a shell killed by the signal
 * would skip it). Reads /proc; false where there is none, or nothing else in the group.
 */
function signalGroupButLeader(pgid: number, signal: NodeJS.Signals): boolean {
  let members: number[];
  try {
    members = readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name) && Number(name) !== pgid)
      .filter((name) => {
        try {
          // "pid (comm) state ppid pgrp ...": comm may hold spaces, so read after the ')'.
          const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === pgid;
        } catch {
          return false;
        }
      })
      .map(Number);
  } catch {
    return false;
  }
  for (const pid of members) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone in the meantime
    }
  }
  return members.length > 0;
}

/** Waits until no process of the group is left; past the deadline the group is killed. */
async function groupGone(pgid: number, deadlineMs: number): Promise<void> {
  const alive = () => {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const until = Date.now() + deadlineMs;
  while (alive() && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 100));
  if (alive()) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // gone in the meantime
    }
  }
}

import { spawn } from 'node:child_process';

export interface ExecOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
  capture?: boolean;
}

export interface ExecResult {
  code: number;
  stdout: string;
}

const forwarded: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

/**
 * Runs argv (never through a shell). Signals the hook receives (cancellation) are passed
 * on to the child, and the exit code is the child's (128 + n when it died of signal n).
 */
export function exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: [options.input === undefined ? 'inherit' : 'pipe', options.capture ? 'pipe' : 'inherit', 'inherit'],
    });
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    if (options.input !== undefined) child.stdin?.end(options.input);
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    forwarded.forEach((signal) => process.on(signal, forward));
    const done = (code: number) => {
      forwarded.forEach((signal) => process.off(signal, forward));
      resolve({ code, stdout });
    };
    child.on('error', (error: NodeJS.ErrnoException) => {
      process.stderr.write(`buildkit: cannot run ${argv[0]}: ${error.code === 'ENOENT' ? 'not found' : error.message}\n`);
      done(127);
    });
    child.on('close', (code, signal) => done(code ?? 128 + signalNumber(signal)));
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const numbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return signal ? numbers[signal] ?? 1 : 1;
}

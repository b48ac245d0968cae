import { cancellation, cancelledStatus, watchCancellation } from './exec';
import { log } from './log';

/** A problem the user can fix: printed as one clear line, never as a stack trace. */
export class UserError extends Error {
  constructor(
    message: string,
    public readonly details: string[] = [],
  ) {
    super(message);
  }
}

/**
 * Runs a hook body and turns its result into the process exit code. A cancelled job (the
 * agent's SIGTERM, or SIGINT/SIGHUP) exits 128 + the signal's number (143 for SIGTERM)
 * whatever its commands returned, with one `the build|job|scan was cancelled` line.
 */
export function hookMain(body: () => Promise<number>): void {
  watchCancellation();
  body().then(
    (code) => {
      process.exitCode = code;
      endCancelled();
    },
    (error: unknown) => {
      // What fails after a cancel (a probe, a login) fails because of it: say that instead.
      if (endCancelled()) {
        if (process.env.BUILDKIT_PLUGIN_DEBUG) process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
        return;
      }
      if (error instanceof UserError) {
        log.error(error.message);
        error.details.forEach((detail) => process.stderr.write(`  - ${detail}\n`));
      } else {
        log.error(error instanceof Error ? error.message : String(error));
        if (process.env.BUILDKIT_PLUGIN_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
      }
      process.exitCode = 1;
    },
  );
}

/** When the job was cancelled: its one status and, unless printed already, its one line. */
function endCancelled(): boolean {
  const signal = cancellation();
  if (!signal) return false;
  if (!log.cancelReported()) log.cancelled('job', signal);
  process.exitCode = cancelledStatus(signal);
  return true;
}

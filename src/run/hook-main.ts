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

/** Runs a hook body and turns its result into the process exit code. */
export function hookMain(body: () => Promise<number>): void {
  body().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
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

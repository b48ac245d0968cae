let cancelReported = false;

/** Buildkite log output: `---` starts a collapsed group, `^^^ +++` opens the current one. */
export const log = {
  group(title: string): void {
    process.stdout.write(`--- ${title}\n`);
  },
  /** Re-opens the current group, so a failing build opens on its error. */
  openCurrentGroup(): void {
    process.stdout.write('^^^ +++\n');
  },
  info(message: string): void {
    process.stdout.write(`${message}\n`);
  },
  warn(message: string): void {
    process.stderr.write(`buildkit: warning: ${message}\n`);
  },
  error(message: string): void {
    process.stderr.write(`buildkit: error: ${message}\n`);
  },
  /** The one line a cancelled job prints: `the build was cancelled (SIGTERM)`. */
  cancelled(what: 'build' | 'job' | 'scan', signal: string): void {
    cancelReported = true;
    this.error(`the ${what} was cancelled (${signal})`);
  },
  cancelReported(): boolean {
    return cancelReported;
  },
};

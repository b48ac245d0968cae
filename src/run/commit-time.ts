import { UserError } from './hook-main';
import { Runtime } from './runtime';

/**
 * `reproducible`: the time of the checkout's commit (the command hook runs in the checkout),
 * for SOURCE_DATE_EPOCH and the created label. Without git or a commit, the job fails: the
 * clock would give another image on every build.
 */
export async function commitTime(runtime: Runtime, env: NodeJS.ProcessEnv): Promise<Date> {
  const argv = ['git', 'log', '-1', '--format=%ct', 'HEAD'];
  const { code, stdout, stderr, timedOut } = await runtime.exec(argv, { env, capture: true, timeoutMs: 30_000 });
  const seconds = stdout.trim();
  if (code === 0 && /^\d+$/.test(seconds)) return new Date(Number(seconds) * 1000);
  const why = timedOut
    ? 'it timed out'
    : code === 127
      ? 'git is not on PATH'
      : code === 0
        ? `it printed ${JSON.stringify(seconds)}, not a time`
        : `it exited ${code}${stderr.trim() ? `: ${stderr.trim().split('\n').pop()}` : ''}`;
  throw new UserError(
    `reproducible: SOURCE_DATE_EPOCH is the commit time, but \`${argv.join(' ')}\` in the checkout (${process.cwd()}) failed: ${why}. ` +
      'Build from a git checkout of the commit (with git on PATH), or remove reproducible: true',
  );
}

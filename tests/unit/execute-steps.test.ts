import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Step } from '../../src/plan/step';
import { executeSteps } from '../../src/run/execute-steps';
import { captureLog, fakeRuntime } from '../support/fake-runtime';
import { scratchDir } from '../support/scratch';

const env = { PATH: '/usr/bin' };
const cleanupsIn = (stateDir: string) => JSON.parse(readFileSync(join(stateDir, 'cleanup.json'), 'utf8'));

function run(steps: Step[], fake = fakeRuntime()) {
  const stateDir = scratchDir('steps-');
  return captureLog(() => executeSteps(steps, { runtime: fake.runtime, env, stateDir })).then((out) => ({ ...out, ...fake, stateDir }));
}

describe('executeSteps: one generic executor', () => {
  test('runs steps in order and stops at the first failure, returning it with its output tail', async () => {
    const fake = fakeRuntime((argv) => (argv[0] === 'b' ? { code: 3, tail: ['boom'] } : undefined));
    const { result, calls } = await run(
      [
        { title: 'a', argv: ['a'] },
        { title: 'b', argv: ['b'] },
        { title: 'c', argv: ['c'] },
      ],
      fake,
    );
    expect(calls.map((c) => c.argv)).toEqual([['a'], ['b']]);
    expect(result).toMatchObject({ code: 3, tail: ['boom'], failed: { title: 'b' } });
  });

  test('registers the clean-up before the command runs, so a failed step is still undone', async () => {
    const fake = fakeRuntime(() => ({ code: 1 }));
    const { result, stateDir } = await run([{ title: 'make', argv: ['make'], cleanup: { argv: ['unmake'], title: 'undo' } }], fake);
    expect(result.code).toBe(1);
    expect(cleanupsIn(stateDir)).toEqual([{ argv: ['unmake'], title: 'undo' }]);
  });

  test('files land in the state dir with their mode; the env overlay reaches the command only', async () => {
    const step: Step = {
      title: 'connect',
      argv: ['buildctl', '--tlskey', 'tls-key.pem'],
      env: { DOCKER_CONFIG: '/state/docker' },
      files: [{ name: 'tls-key.pem', content: 's3cret', mode: 0o600 }],
    };
    const { calls, stateDir, log } = await run([step]);
    expect(readFileSync(join(stateDir, 'tls-key.pem'), 'utf8')).toBe('s3cret');
    expect(statSync(join(stateDir, 'tls-key.pem')).mode & 0o777).toBe(0o600);
    expect(calls[0]?.options.env).toEqual({ ...env, DOCKER_CONFIG: '/state/docker' });
    expect(log).toContain('$ buildctl --tlskey tls-key.pem');
    expect(log).not.toContain('s3cret');
  });

  test('a step whose work exists is reused: its check succeeds, nothing else runs or is registered', async () => {
    const { calls, log, stateDir, result } = await run([
      { title: 'create', argv: ['create'], reuseIf: { argv: ['inspect'], notice: 'reusing it' }, cleanup: { argv: ['rm'], title: 'rm' } },
    ]);
    expect(result.code).toBe(0);
    expect(calls.map((c) => c.argv)).toEqual([['inspect']]);
    expect(log).toContain('buildkit: reusing it');
    expect(() => cleanupsIn(stateDir)).toThrow(/ENOENT/);
  });

  test('a failed check runs the step', async () => {
    const fake = fakeRuntime((argv) => (argv[0] === 'inspect' ? { code: 1 } : undefined));
    const { calls } = await run([{ title: 'create', argv: ['create'], reuseIf: { argv: ['inspect'], notice: 'reusing it' } }], fake);
    expect(calls.map((c) => c.argv)).toEqual([['inspect'], ['create']]);
  });

  test('a failure that says another job did the same work counts as done', async () => {
    const fake = fakeRuntime(() => ({ code: 1, tail: ['ERROR: existing instance for "b1"'] }));
    const { result, log } = await run(
      [{ title: 'create', argv: ['create'], doneByOtherJob: { text: 'existing instance for "b1"', notice: 'created by another job' } }],
      fake,
    );
    expect(result.code).toBe(0);
    expect(log).toContain('buildkit: created by another job');
  });

  test('housekeeping runs quietly and its failure is ignored', async () => {
    const fake = fakeRuntime((argv) => (argv[0] === 'tidy' ? { code: 1 } : undefined));
    const { result, calls } = await run(
      [
        { title: 'tidy', argv: ['tidy'], quiet: true },
        { title: 'next', argv: ['next'] },
      ],
      fake,
    );
    expect(result.code).toBe(0);
    expect(calls[0]?.options.quiet).toBe(true);
    expect(calls.map((c) => c.argv)).toEqual([['tidy'], ['next']]);
  });
});

describe('executeSteps: retries', () => {
  const transient = (tail: string[]) => tail.includes('503');
  const build = (attempts: number): Step => ({
    title: 'build',
    group: ':docker: Building',
    argv: ['build'],
    retry: { attempts, when: transient, what: 'the push failed' },
  });

  test('a transient failure is retried after 2 s, 4 s, ... in a new log group each time', async () => {
    let n = 0;
    const fake = fakeRuntime(() => (++n < 3 ? { code: 1, tail: ['503'] } : undefined));
    const { result, calls, sleeps, log } = await run([build(2)], fake);
    expect(result.code).toBe(0);
    expect(calls).toHaveLength(3);
    expect(sleeps).toEqual([2000, 4000]);
    expect(log).toContain('--- :docker: Building (retry 1 of 2)');
    expect(log).toContain('--- :docker: Building (retry 2 of 2)');
    expect(log).toContain('buildkit: warning: the push failed; retrying in 2 s (1 of 2)');
  });

  test('gives up after the last attempt with the last failure', async () => {
    const fake = fakeRuntime(() => ({ code: 1, tail: ['503'] }));
    const { result, calls } = await run([build(1)], fake);
    expect(result).toMatchObject({ code: 1, tail: ['503'] });
    expect(calls).toHaveLength(2);
  });

  test('a failure that is not transient is not retried', async () => {
    const fake = fakeRuntime(() => ({ code: 1, tail: ['401'] }));
    const { calls, sleeps } = await run([build(3)], fake);
    expect(calls).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  test('a cancelled job is never retried, and no later step runs', async () => {
    const fake = fakeRuntime(() => {
      fake.cancel();
      return { code: 143, tail: ['503'] };
    });
    const { result, calls } = await run([build(3), { title: 'after', argv: ['after'] }], fake);
    expect(result.code).toBe(143);
    expect(calls.map((c) => c.argv)).toEqual([['build']]);
  });
});

describe('executeSteps: time-outs', () => {
  test('a step killed by its time-out fails with a line that says so, for the hints to read', async () => {
    const fake = fakeRuntime(() => ({ code: 137, tail: ['#1 waiting for pods'], timedOut: true }));
    const { result, calls } = await run([{ title: 'create', argv: ['create'], timeoutMs: 180_000 }], fake);
    expect(calls[0]?.options.timeoutMs).toBe(180_000);
    expect(result).toMatchObject({ code: 137, tail: ['#1 waiting for pods', 'buildkit: timed out after 180 s'] });
  });
});

import { readdirSync } from 'node:fs';
import { checkout, runPipelineStep } from './support';

jest.setTimeout(120_000);

describe('timeout', () => {
  test('a build that runs too long is stopped, fails with a clear message, and leaves nothing behind', async () => {
    const dir = checkout();
    const started = Date.now();
    const run = await runPipelineStep(dir, { key: 'slow', command: 'touch ran', config: { target: 'slow', network: 'none', timeout: '3s' } });
    const seconds = (Date.now() - started) / 1000;
    expect(run.code).not.toBe(0);
    // RUN sleep 60, stopped at 3 s: TERM, the group a second later, KILL at three.
    expect(seconds).toBeLessThan(30);
    expect(run.output).toContain('buildkit: error: the build ran longer than timeout (3 s) and was stopped (SIGTERM, then SIGKILL)');
    expect(readdirSync(dir)).not.toContain('ran');
    expect(readdirSync(dir).filter((name) => name.startsWith('buildkit-plugin-'))).toEqual([]);
  });
});

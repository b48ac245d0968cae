import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkout, expectSuccess, runPipelineStep, scratchDir } from './support';

jest.setTimeout(120_000);

describe('artifacts: true', () => {
  test('a local export is uploaded with buildkite-agent artifact upload and linked in the annotation', async () => {
    const agentDir = scratchDir('artifacts-agent-');
    const run = await runPipelineStep(
      checkout(),
      { key: 'files', config: { target: 'runtime', network: 'none', outputs: ['type=local,dest=out'], artifacts: true } },
      { extraArgs: ['--agent-dir', agentDir] },
    );
    expectSuccess(run);
    expect(run.output).toContain('[buildkite-agent] artifact upload out/**/*:');
    // The real export: the runtime stage's files, as BuildKit wrote them, copied by the stand-in.
    expect(readFileSync(join(agentDir, 'artifacts', 'out', 'greeting'), 'utf8')).toBe('hello\n');
    expect(existsSync(join(agentDir, 'artifacts', 'out', 'bin', 'busybox'))).toBe(true);
    expect(run.result.annotations['buildkit-files']).toContain('[out/greeting](artifact://out/greeting)');
  });
});

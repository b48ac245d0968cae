import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkout, root, testRegistry } from './support';

jest.setTimeout(300_000);

testRegistry();
const uid = process.getuid?.() ?? 0;
// The plugin under test (the default: this repository); another checkout's to compare with.
const pluginRoot = process.env.BUILDKIT_TEST_PLUGIN_ROOT ?? root;
const runs = Number(process.env.BUILDKIT_TEST_CANCEL_RUNS ?? 50);
const graceSeconds = 5;
// The build's RUN, seen on this host while it runs (a duration no other test uses).
const marker = 'sleep\u0000587\u0000';

interface Cancelled {
  code: number;
  resultCode?: number;
  output: string;
  delayMs: number;
  cancelToEndMs: number;
}

/** Runs the step with the local runner and cancels it `delayMs` after `$ docker buildx build` shows in its log. */
function runAndCancel(dir: string, jobId: string, delayMs: number): Promise<Cancelled> {
  const pipeline = join(dir, 'pipeline.yml');
  const step = { key: 'cancel-start', command: 'touch ran', plugins: [{ 'buildkit#v1': { target: 'cancel-start', network: 'none', 'no-cache': true } }] };
  writeFileSync(pipeline, JSON.stringify({ steps: [step] }));
  const args = [join(pluginRoot, 'dist', 'cli.js'), 'run', '--pipeline', pipeline, '--dir', dir, '--json', '--grace', String(graceSeconds)];
  args.push('--env', `BUILDKITE_JOB_ID=${jobId}`);
  return new Promise((done) => {
    const child = spawn(process.execPath, args, { cwd: dir, env: { ...process.env, TMPDIR: dir } });
    let output = '';
    let sentAt: number | undefined;
    let armed = false;
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      if (!armed && output.includes('$ docker buildx build')) {
        armed = true;
        setTimeout(() => {
          sentAt = Date.now();
          child.kill('SIGTERM');
        }, delayMs);
      }
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('close', (code) => {
      let resultCode: number | undefined;
      try {
        resultCode = (JSON.parse(output.trim().split('\n').pop() ?? '') as { code: number }).code;
      } catch {
        resultCode = undefined;
      }
      done({ code: code ?? -1, resultCode, output, delayMs, cancelToEndMs: sentAt === undefined ? -1 : Date.now() - sentAt });
    });
  });
}

/** The pids of the build's RUN still running on this host. */
function runningBuilds(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8') === marker;
      } catch {
        return false;
      }
    })
    .map(Number);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a cancel at any moment of the build start', () => {
  test(`SIGTERM 0-50 ms after the build command spawns, ${runs} times: the job ends in the grace period, 143, one line, nothing left`, async () => {
    const dir = checkout();
    appendFileSync(join(dir, 'Dockerfile'), '\nFROM base AS cancel-start\nRUN sleep 587\n');
    const problems: string[] = [];
    const figures = { late: 0, leftovers: 0, running: 0, statuses: {} as Record<string, number> };
    for (let i = 0; i < runs; i++) {
      const jobId = `job-cancel-start-${i}`;
      const run = await runAndCancel(dir, jobId, Math.floor(Math.random() * 51));
      const where = `run ${i} (cancel ${run.delayMs} ms after the spawn)`;
      figures.statuses[run.code] = (figures.statuses[run.code] ?? 0) + 1;
      const cancelLines = run.output.split('\n').filter((line) => / was cancelled /.test(line));
      const left = readdirSync(dir).filter((name) => /^buildki(t|te)-plugin-exports\./.test(name));
      const stateDir = join(dir, `buildkite-plugin-buildkit-${uid}`, jobId);
      if (existsSync(stateDir)) left.push(stateDir);
      // Each run is judged on what it left alone.
      left.forEach((name) => rmSync(name.startsWith('/') ? name : join(dir, name), { recursive: true, force: true }));
      await sleep(500);
      const running = runningBuilds();
      running.forEach((pid) => process.kill(pid, 'SIGKILL'));

      const wrong: string[] = [];
      if (run.cancelToEndMs < 0) wrong.push('never cancelled (the build ended first)');
      if (run.cancelToEndMs >= graceSeconds * 1000) wrong.push(`ended ${run.cancelToEndMs} ms after the cancel (grace ${graceSeconds} s)`);
      if (run.code !== 143 || run.resultCode !== 143) wrong.push(`exit ${run.code} (job ${run.resultCode}), not 143`);
      if (cancelLines.length !== 1) wrong.push(`${cancelLines.length} cancelled lines`);
      if (run.output.includes('unknown flag')) wrong.push('unknown flag in the log');
      if (left.length > 0) wrong.push(`left behind: ${left.join(', ')}`);
      if (running.length > 0) wrong.push(`the build still ran afterwards (pids ${running.join(' ')})`);
      if (existsSync(join(dir, 'ran'))) wrong.push('the step command ran');
      if (run.cancelToEndMs >= graceSeconds * 1000) figures.late++;
      if (left.length > 0) figures.leftovers++;
      if (running.length > 0) figures.running++;
      if (wrong.length > 0) problems.push(`${where}: ${wrong.join('; ')}\n${run.output.split('\n').slice(-12).join('\n')}`);
    }
    console.log(`cancel-start, ${runs} runs of ${pluginRoot}: ${JSON.stringify(figures)}; ${problems.length} with a problem`);
    expect(problems).toEqual([]);
  });
});

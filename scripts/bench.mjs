// Prints the plugin's start-up and per-job overhead (run through scripts/with-engine.sh:
// `npm run bench`). Figures, not assertions: a busy machine changes them.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const runs = Number(process.env.BENCH_RUNS ?? 21);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const work = mkdtempSync(join(tmpdir(), 'buildkit-bench-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

// A hook sourced by a wrapper, as the agent runs it.
function timeHook(hook, env, before = () => {}) {
  const wrapper = join(work, `wrapper-${hook}`);
  writeFileSync(wrapper, `#!/bin/bash\n. ${root}/hooks/${hook}\nexport S=$?\nenv >/dev/null\nexit $S\n`);
  const times = [];
  for (let i = 0; i < runs; i++) {
    before();
    const started = process.hrtime.bigint();
    const result = spawnSync('bash', [wrapper], { env: { ...process.env, ...env }, stdio: 'ignore' });
    if (result.status !== 0) throw new Error(`${hook} hook failed`);
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return median(times);
}

const hookEnv = {
  TMPDIR: work,
  BUILDKITE_JOB_ID: 'bench',
  BUILDKITE_PLUGIN_NAME: 'BUILDKIT',
  BUILDKITE_PLUGIN_CONFIGURATION: JSON.stringify({ image: '127.0.0.1:5000/hello', tags: ['1', 'latest'], push: true, 'build-args': { A: '1' } }),
};
// Median wall time of `node ARGS...`.
function timeNode(args) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const started = process.hrtime.bigint();
    execFileSync('node', args);
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return median(times);
}
const nodeBaseline = timeNode(['-e', '0']);
const environmentMs = timeHook('environment', hookEnv);
// With an ECR image: the job's own Docker config is made (the AWS SDK is not loaded here).
const ecrHookEnv = {
  ...hookEnv,
  HOME: work,
  BUILDKITE_PLUGIN_CONFIGURATION: JSON.stringify({ image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/hello', tags: ['1'], push: true }),
};
const environmentEcrMs = timeHook('environment', ecrHookEnv, () =>
  rmSync(join(work, `buildkite-plugin-buildkit-${process.getuid()}`), { recursive: true, force: true }),
);
// What a job that logs in to ECR pays once, in the command hook: loading dist/ecr.js (the AWS SDK).
const ecrLoadMs = timeNode(['-e', `require(${JSON.stringify(join(root, 'dist', 'ecr.js'))})`]) - nodeBaseline;
// pre-exit as it runs after the environment hook: the state dir exported, nothing registered.
const stateDir = join(work, `buildkite-plugin-buildkit-${process.getuid()}`, 'bench');
const preExitMs = timeHook('pre-exit', { ...hookEnv, BUILDKIT_PLUGIN_STATE_DIR: stateDir }, () => mkdirSync(stateDir, { recursive: true, mode: 0o700 }));
const preExitCleanupMs = timeHook('pre-exit', { ...hookEnv, BUILDKIT_PLUGIN_STATE_DIR: stateDir }, () => {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeFileSync(join(stateDir, 'cleanup.json'), JSON.stringify([{ argv: ['true'], title: 'a clean-up step' }]));
});
const rss = spawnSync('/usr/bin/time', ['-f', '%M', 'node', join(root, 'dist', 'environment.js')], {
  env: { ...process.env, ...hookEnv, BUILDKIT_PLUGIN_EXPORTS_FILE: join(work, 'exports') },
  encoding: 'utf8',
});

console.log(`node -e 0 (baseline)          median ${nodeBaseline.toFixed(0)} ms over ${runs} runs`);
console.log(`environment hook (sourced)     median ${environmentMs.toFixed(0)} ms   (target <= 150 ms)`);
console.log(`environment hook, ECR image    median ${environmentEcrMs.toFixed(0)} ms   (makes the job's Docker config; no AWS SDK)`);
console.log(`loading the AWS SDK (ecr.js)   median ${ecrLoadMs.toFixed(0)} ms   (command hook, ECR jobs only)`);
console.log(`pre-exit hook (sourced)        median ${preExitMs.toFixed(0)} ms   (target <= 150 ms; nothing to clean up)`);
console.log(`pre-exit hook, one clean-up    median ${preExitCleanupMs.toFixed(0)} ms   (target <= 150 ms; runs Node)`);
console.log(`environment hook peak RSS      ${(Number(rss.stderr.trim().split('\n').pop()) / 1024).toFixed(0)} MiB`);

// Per-job overhead: the three hooks' wall time minus the build command's own time.
if (process.env.BUILDKIT_TEST_REGISTRY) {
  const example = join(root, 'examples', 'hello');
  if (!existsSync(join(example, 'busybox'))) copyFileSync('/bin/busybox', join(example, 'busybox'));
  const overheads = [];
  const jobRuns = Number(process.env.BENCH_JOB_RUNS ?? 7);
  for (let i = 0; i < jobRuns; i++) {
    const out = spawnSync('node', [join(root, 'dist', 'cli.js'), 'run', '--dir', example, '--json', '--env', `BUILDKITE_BUILD_NUMBER=${i}`], {
      env: { ...process.env, BUILDKIT_EXAMPLE_REGISTRY: process.env.BUILDKIT_TEST_REGISTRY },
      encoding: 'utf8',
    });
    const result = JSON.parse(out.stdout.trim().split('\n').pop());
    const build = Number(/the build took (\d+) ms/.exec(out.stdout)?.[1]);
    if (result.code !== 0 || Number.isNaN(build)) throw new Error(`example job failed:\n${out.stdout}${out.stderr}`);
    const hooks = Object.values(result.hookMs).reduce((a, b) => a + b, 0);
    overheads.push(hooks - build);
  }
  console.log(
    `plugin overhead per job        median ${(median(overheads) / 1000).toFixed(2)} s over ${jobRuns} warm jobs (target <= 0.30 s; includes the step command)`,
  );
}

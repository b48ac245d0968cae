// The build cache, measured (run through scripts/with-engine.sh with WITH_CLASSIC_ENGINE=1:
// `npm run bench:cache`). For each image store: a cold build, a warm rebuild on the same
// engine, and rebuilds on a wiped engine with the plugin's cache and with a hand-written raw
// registry recipe; every rebuild changes one source file, as a commit would. Each figure is
// the median of BENCH_RUNS rounds (default 3) of the build's own time ("buildkit: the build
// took N ms"), through the plugin's hooks as an agent runs them. Then skip-unchanged: a reused
// job against rebuilds, whole jobs. Figures, not assertions. BENCH_ONLY=skip runs only that.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const registry = process.env.BUILDKIT_TEST_REGISTRY;
if (!registry) throw new Error('run me through scripts/with-engine.sh (npm run bench:cache)');
const rounds = Number(process.env.BENCH_RUNS ?? 3);
const work = mkdtempSync(join(tmpdir(), 'buildkit-bench-cache-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

const checkout = join(work, 'app');
cpSync(join(root, 'tests', 'fixtures', 'bench-app'), checkout, { recursive: true });
execFileSync('bash', [join(root, 'scripts', 'provide-busybox.sh'), join(checkout, 'busybox')]);
let edits = 0;
/** One commit's worth of change: a source file the build stage reads. */
const edit = () => writeFileSync(join(checkout, 'src', 'main.c'), `main() { return ${++edits}; }\n`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Runs one job of the plugin on the engine at `host`; the build's seconds and cache hits. */
function job(host, key, config, branch = 'main') {
  const pipeline = join(work, `${key}.yml`);
  writeFileSync(pipeline, JSON.stringify({ steps: [{ key, plugins: [{ 'buildkit#v1': { 'oci-labels': false, network: 'none', ...config } }] }] }));
  const args = [join(root, 'dist', 'cli.js'), 'run', '--pipeline', pipeline, '--dir', checkout];
  args.push('--env', `BUILDKITE_BRANCH=${branch}`, '--env', 'BUILDKITE_PIPELINE_DEFAULT_BRANCH=main');
  const run = spawnSync(process.execPath, args, { cwd: checkout, env: { ...process.env, DOCKER_HOST: host }, encoding: 'utf8' });
  const output = `${run.stdout}${run.stderr}`;
  if (run.status !== 0) throw new Error(`${key} failed:\n${output}`);
  const ms = Number(/buildkit: the build took (\d+) ms/.exec(output)?.[1]);
  // The whole job as the agent spends it: the runner prints each hook's time.
  const jobMs = [...output.matchAll(/^hook [\w-]+: (\d+) ms$/gm)].reduce((sum, [, n]) => sum + Number(n), 0);
  return {
    seconds: ms / 1000,
    jobSeconds: jobMs / 1000,
    reused: output.includes('buildkit: unchanged since'),
    hits: /buildkit: cache: (\d+ of \d+) build steps cached/.exec(output)?.[1],
  };
}

const prune = (host) => execFileSync('docker', ['buildx', 'prune', '--all', '--force'], { env: { ...process.env, DOCKER_HOST: host }, stdio: 'ignore' });

/** One round on a store: each row's result, in order. */
function round(host, image, cache, builder, variants) {
  const base = { image, tags: ['1'], push: true };
  const raw = `type=registry,ref=${image}:rawcache`;
  const rawConfig = { ...base, 'cache-from': [raw], 'cache-to': [`${raw},mode=max`], ...(builder ? { builder } : {}) };
  const rows = {};
  prune(host);
  rows.cold = job(host, 'cold', base);
  prune(host);
  edit();
  rows.coldExport = job(host, 'cold-export', { ...base, ...cache });
  for (const compression of variants ? ['gzip', 'zstd'] : []) {
    prune(host);
    edit();
    const spec = `type=registry,ref=${image}:buildcache-${compression},image-manifest=true,oci-mediatypes=true,mode=max,compression=${compression},ignore-error=true`;
    rows[compression] = job(host, `cold-${compression}`, { ...base, 'cache-to': [spec] });
  }
  edit();
  rows.warm = job(host, 'warm', { ...base, ...cache });
  prune(host);
  edit();
  rows.fresh = job(host, 'fresh', { ...base, ...cache }, `feature/${edits}`);
  prune(host);
  edit();
  job(host, 'raw-seed', rawConfig);
  prune(host);
  edit();
  rows.raw = job(host, 'raw', rawConfig);
  return rows;
}

function store(name, host, cache, builder, variants = false) {
  const image = `${registry}/bench-${name.replace(/[^a-z]+/g, '-')}${Date.now()}`;
  // A repository per round: a round's cold builds must find no cache of the one before.
  const all = Array.from({ length: rounds }, (_, i) => round(host, `${image}-${i}`, cache, builder, variants));
  const row = (key) => ({ seconds: median(all.map((r) => r[key].seconds)), hits: all[all.length - 1][key].hits });
  const print = (label, result, note = '') =>
    console.log(
      `  ${label.padEnd(48)} ${result.seconds.toFixed(1).padStart(5)} s${result.hits ? `   (${result.hits} cached)` : ''}${note ? `   ${note}` : ''}`,
    );
  const cold = row('cold');
  const warm = row('warm');
  const overhead = (r) => `export overhead ${(((r.seconds - cold.seconds) / cold.seconds) * 100).toFixed(0)}%`;
  console.log(`${name} (${host}), medians of ${rounds}`);
  print('cold, no cache', cold);
  print('cold, exporting the cache', row('coldExport'), `${overhead(row('coldExport'))} (target <= 10%)`);
  for (const compression of variants ? ['gzip', 'zstd'] : [])
    print(`cold, exporting mode=max with compression=${compression}`, row(compression), overhead(row(compression)));
  print('warm, same engine, one file changed', warm);
  print('fresh engine, the cache (a new feature branch)', row('fresh'), `${(row('fresh').seconds / warm.seconds).toFixed(2)}x warm (target <= 1.10)`);
  print('fresh engine, hand-written registry mode=max', row('raw'), `${(row('raw').seconds / warm.seconds).toFixed(2)}x warm`);
}

/**
 * skip-unchanged: whole jobs (the three hooks). A reused job on a wiped engine, against a warm
 * rebuild (one file changed, same engine) and a fresh-engine rebuild with the cache.
 */
function skipUnchanged(host) {
  const image = `${registry}/bench-skip-${Date.now()}`;
  const config = { image, tags: ['1'], push: true, cache: true, 'skip-unchanged': true };
  const rows = { warm: [], reused: [], fresh: [] };
  const expect = (run, reused) => {
    if (run.reused !== reused) throw new Error(`skip-unchanged: expected ${reused ? 'a reuse' : 'a build'}`);
    return run.jobSeconds;
  };
  for (let i = 0; i < rounds; i++) {
    edit();
    job(host, 'skip-seed', config);
    edit();
    rows.warm.push(expect(job(host, 'skip-warm', config), false));
    prune(host);
    rows.reused.push(expect(job(host, 'skip-reused', config), true));
    prune(host);
    edit();
    rows.fresh.push(expect(job(host, 'skip-fresh', config, `feature/${edits}`), false));
  }
  const reused = median(rows.reused);
  console.log(`skip-unchanged, containerd image store (${host}), whole jobs, medians of ${rounds}`);
  console.log(`  ${'reused (wiped engine, same inputs)'.padEnd(48)} ${reused.toFixed(1).padStart(5)} s`);
  for (const [label, key] of [
    ['warm rebuild, same engine, one file changed', 'warm'],
    ['fresh engine, rebuilt with cache: true', 'fresh'],
  ]) {
    const seconds = median(rows[key]);
    console.log(`  ${label.padEnd(48)} ${seconds.toFixed(1).padStart(5)} s   reused is ${(seconds / reused).toFixed(1)}x faster`);
  }
}

const only = process.env.BENCH_ONLY;
if (!only || only === 'containerd') store('containerd image store, cache: true', process.env.DOCKER_HOST, { cache: true }, undefined, true);
if (!only || only === 'skip') skipUnchanged(process.env.DOCKER_HOST);
const classic = process.env.BUILDKIT_TEST_CLASSIC_DOCKER_HOST;
if ((!only || only === 'classic') && classic) {
  // The classic store's own BuildKit exports inline cache only; cache: true takes a per-job
  // docker-container builder. Its image cannot be pulled here: scripts/buildkit-image.sh packs one.
  const env = { ...process.env, DOCKER_HOST: classic };
  const builder = {
    image: execFileSync('bash', [join(root, 'scripts', 'buildkit-image.sh')], { env, encoding: 'utf8' }).trim(),
    'driver-opts': ['network=host'],
  };
  store('classic image store, cache: true (a per-job builder)', classic, { cache: true, builder }, builder);
  // The alternative: the engine's own BuildKit, inline cache; the raw recipe still needs the builder.
  store('classic image store, cache: { type: inline }', classic, { cache: { type: 'inline' } }, builder);
} else if (!only || only === 'classic') {
  console.log('classic image store: not measured (no BUILDKIT_TEST_CLASSIC_DOCKER_HOST; run with WITH_CLASSIC_ENGINE=1)');
}

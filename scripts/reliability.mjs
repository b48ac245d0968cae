// Reliability figures of the plugin, through the local runner (dist/cli.js) and the real hooks:
//   bad configurations rejected (a sample of tests/support/bad-configs.ts, per config form),
//   hostile values executed (must be 0), cancellations at random moments with leftovers,
//   concurrent same-tag jobs whose meta-data digest is not their own image, and registry
//   faults (5xx, reset, 429, through tests/e2e/fault-proxy.ts) survived.
// Figures, not assertions: prints one table. Run with `npm run reliability` (under
// scripts/with-engine.sh: a Docker engine and a registry on 127.0.0.1). Knobs:
// RELIABILITY_SAMPLE (bad configs per form, default 80; "all" for the whole corpus),
// RELIABILITY_CANCELS (20), RELIABILITY_ROUNDS (10), RELIABILITY_FAULTS (3 per kind).
/* global fetch */
import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '..');
const registry = process.env.BUILDKIT_TEST_REGISTRY;
if (!registry || !process.env.DOCKER_HOST) {
  process.stderr.write('reliability: run under scripts/with-engine.sh (npm run reliability)\n');
  process.exit(2);
}
if (!existsSync(join(root, 'dist', 'cli.js'))) {
  process.stderr.write('reliability: build first (npm run build)\n');
  process.exit(2);
}

const work = mkdtempSync(join(tmpdir(), 'buildkit-reliability-'));
const started = Date.now();
const log = (line) => process.stderr.write(`reliability: ${line} (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);

// The corpus and the fault proxy are TypeScript: bundled once, here, for this run.
async function load(entry, name) {
  const outfile = join(work, `${name}.cjs`);
  await build({
    entryPoints: [join(root, entry)],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    outfile,
    logLevel: 'error',
    define: { __dirname: JSON.stringify(join(root, entry, '..')) },
  });
  return createRequire(import.meta.url)(outfile);
}
const corpus = await load('tests/support/bad-configs.ts', 'bad-configs');
const { FaultProxy, registryError } = await load('tests/e2e/fault-proxy.ts', 'fault-proxy');

// A seeded random, so one run's sample can be repeated (RELIABILITY_SEED).
const initialSeed = Number(process.env.RELIABILITY_SEED ?? (Date.now() % 100000) + 1);
let seed = initialSeed;
const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
const sample = (items, n) => {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return n === 'all' ? copy : copy.slice(0, Number(n));
};

function scratch(prefix) {
  return mkdtempSync(join(work, prefix));
}

function appCheckout(prefix) {
  const dir = scratch(prefix);
  cpSync(join(root, 'tests', 'fixtures', 'app'), dir, { recursive: true });
  copyFileSync(process.env.BUILDKIT_TEST_BUSYBOX ?? '/bin/busybox', join(dir, 'busybox'));
  return dir;
}

/** One step through the local runner; TMPDIR is the step's directory, so leftovers show there. */
function runStep(dir, step, { form = 'both', env = {}, extraArgs = [] } = {}) {
  const { config, ...rest } = step;
  const pipeline = join(dir, 'pipeline.yml');
  writeFileSync(pipeline, JSON.stringify({ steps: [{ ...rest, plugins: [{ 'buildkit#v1': config }] }] }));
  const args = [join(root, 'dist', 'cli.js'), 'run', '--pipeline', pipeline, '--dir', dir, '--json', '--config-form', form, ...extraArgs];
  for (const [k, v] of Object.entries(env)) args.push('--env', `${k}=${v}`);
  return new Promise((done) => {
    const child = spawn(process.execPath, args, { cwd: dir, env: { ...process.env, TMPDIR: dir } });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('close', (code) => {
      let result = { code, hookMs: {}, metaData: {}, annotations: {} };
      try {
        result = JSON.parse(output.trim().split('\n').pop() ?? '');
      } catch {
        // no summary line
      }
      done({ code: code ?? -1, output, result });
    });
  });
}

async function inBatches(items, concurrency, run) {
  const results = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await run(items[index], index);
      }
    }),
  );
  return results;
}

const rows = [];

// ------------------------------------------------------------------ bad configurations
{
  const n = process.env.RELIABILITY_SAMPLE ?? '80';
  const all = corpus.badConfigs();
  for (const form of corpus.forms) {
    const cases = sample(
      all.filter((c) => c.forms.includes(form)),
      n,
    );
    const results = await inBatches(cases, 6, async (c) => {
      const dir = scratch('bad-');
      writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
      const run = await runStep(dir, { key: 'bad', command: 'touch STEP_RAN', config: c.config }, { form, env: c.env ?? {} });
      const problems = corpus.judgeRejection(c.paths, {
        code: run.code,
        output: run.output,
        hookMs: run.result.hookMs ?? {},
        stepRan: existsSync(join(dir, 'STEP_RAN')),
      });
      rmSync(dir, { recursive: true, force: true });
      return { key: `${c.name}@${form}`, problems };
    });
    const bad = results.filter((r) => r.problems.length > 0);
    const gaps = bad.filter((r) => corpus.knownGaps[r.key] !== undefined).length;
    rows.push([
      `bad configs rejected cleanly, ${form} form`,
      `${results.length - bad.length} of ${results.length}`,
      `sample of ${all.filter((c) => c.forms.includes(form)).length}; ${gaps} known gaps${
        bad.length - gaps
          ? `; other: ${bad
              .filter((r) => corpus.knownGaps[r.key] === undefined)
              .slice(0, 3)
              .map((r) => r.key)
              .join(', ')}`
          : ''
      }`,
    ]);
    log(`bad configs, ${form}: ${results.length - bad.length} of ${results.length}`);
  }
}

// ------------------------------------------------------------------ hostile values
{
  const markers = scratch('markers-');
  const payloads = corpus.hostilePayloads(markers);
  const runs = sample(
    corpus.stringOptionPaths().flatMap((path) => payloads.map((payload) => ({ path, payload }))),
    process.env.RELIABILITY_HOSTILE ?? '40',
  );
  const results = await inBatches(runs, 6, async ({ path, payload }) => {
    const dir = scratch('hostile-');
    writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
    const run = await runStep(dir, { key: 'hostile', command: 'true', config: corpus.hostileConfig(path, payload.value) });
    rmSync(dir, { recursive: true, force: true });
    return run.code;
  });
  const executed = readdirSync(markers).length;
  rows.push([
    'hostile values executed (must be 0)',
    `${executed}`,
    `${results.length} dry-runs, ${results.filter((c) => c === 0).length} accepted, ${results.filter((c) => c !== 0).length} refused`,
  ]);
  log(`hostile values: ${executed} executed`);
}

// ------------------------------------------------------------------ cancellations
{
  const n = Number(process.env.RELIABILITY_CANCELS ?? 20);
  const plans = Array.from({ length: n }, (_, i) => ({ i, after: Number((0.1 + random() * 2.9).toFixed(2)) }));
  const results = await inBatches(plans, 4, async ({ i, after }) => {
    const dir = appCheckout('cancel-');
    const before = new Set(readdirSync(dir));
    before.add('pipeline.yml');
    const run = await runStep(
      dir,
      { key: 'cancel', command: 'true', config: { image: `${registry}/reliability/cancel`, tags: [`c${i}`], target: 'slow', network: 'none', push: true } },
      { extraArgs: ['--cancel-after', String(after), '--grace', '10'], env: { BUILDKITE_JOB_ID: `reliability-cancel-${i}-${Date.now()}` } },
    );
    // The per-user root of the state dirs (buildkite-plugin-buildkit-<uid>) is shared by jobs
    // and stays; what counts is a job's directory left inside it, or anything else new.
    const left = readdirSync(dir)
      .filter((name) => !before.has(name))
      .flatMap((name) => (/^buildkite-plugin-buildkit-\d+$/.test(name) ? readdirSync(join(dir, name)).map((job) => `${name}/${job}`) : [name]));
    rmSync(dir, { recursive: true, force: true });
    return { after, code: run.code, left };
  });
  const withLeftovers = results.filter((r) => r.left.length > 0);
  const zero = results.filter((r) => r.code === 0);
  rows.push([
    'cancellations with leftovers in TMPDIR',
    `${withLeftovers.length} of ${results.length}`,
    `cancel after 0.1-3 s; exit statuses ${[...new Set(results.map((r) => r.code))].sort().join(', ')}${zero.length ? ` (${zero.length} exited 0)` : ''}${
      withLeftovers.length
        ? `; left: ${[...new Set(withLeftovers.flatMap((r) => r.left.map((l) => l.replace(/reliability-cancel-.*$/, '<job>').replace(/[.-][A-Za-z0-9]{6,}$/, '-*'))))].join(', ')}`
        : ''
    }`,
  ]);
  log(`cancellations: ${withLeftovers.length} with leftovers`);
}

// ------------------------------------------------------------------ same tag, concurrent jobs
const accept = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

async function labelsOf(repo, reference) {
  const base = `http://${registry}/v2/${repo}`;
  const response = await fetch(`${base}/manifests/${reference}`, { headers: { Accept: accept } });
  if (!response.ok) return undefined;
  let manifest = await response.json();
  if (manifest.manifests) {
    const image = manifest.manifests.find((m) => m.platform?.os !== 'unknown') ?? manifest.manifests[0];
    manifest = await (await fetch(`${base}/manifests/${image.digest}`, { headers: { Accept: accept } })).json();
  }
  const config = await (await fetch(`${base}/blobs/${manifest.config.digest}`)).json();
  return config.config?.Labels ?? {};
}

{
  const rounds = Number(process.env.RELIABILITY_ROUNDS ?? 10);
  const repo = 'reliability/same-tag';
  let wrong = 0;
  let failed = 0;
  const notes = [];
  for (let round = 0; round < rounds; round++) {
    const jobs = Array.from({ length: 4 }, (_, i) => `round${round}-job${i}-${Date.now()}`);
    const runs = await Promise.all(
      jobs.map((job) =>
        runStep(
          appCheckout('same-'),
          {
            key: 'same',
            command: 'true',
            config: {
              image: `${registry}/${repo}`,
              tags: ['shared'],
              push: true,
              target: 'runtime',
              network: 'none',
              labels: { job },
              'build-args': { GREETING: job },
            },
          },
          { env: { BUILDKITE_JOB_ID: job } },
        ),
      ),
    );
    for (const [i, run] of runs.entries()) {
      if (run.code !== 0) {
        failed++;
        notes.push(`${jobs[i]} exited ${run.code}`);
        continue;
      }
      const digest = run.result.metaData?.['buildkit.same.digest'];
      const labels = digest ? await labelsOf(repo, digest) : undefined;
      if (labels?.job !== jobs[i]) {
        wrong++;
        notes.push(`${jobs[i]}: meta-data digest ${digest ?? '(none)'} is ${labels ? `the image of ${labels.job}` : 'not in the registry'}`);
      }
    }
  }
  rows.push([
    'concurrent same-tag jobs with the wrong digest',
    `${wrong} of ${rounds * 4}`,
    `${failed} jobs failed${notes.length ? `; ${notes.slice(0, 2).join('; ')}` : ''}`,
  ]);
  log(`same tag: ${wrong} wrong`);
}

// ------------------------------------------------------------------ registry faults
{
  const perKind = Number(process.env.RELIABILITY_FAULTS ?? 3);
  const proxy = await FaultProxy.start(registry);
  try {
    const kinds = [
      { kind: '5xx', times: 4, fault: { status: 500, body: registryError('UNKNOWN', 'unknown error') } },
      { kind: 'reset', times: 4, fault: { reset: true } },
      { kind: '429', times: 6, fault: { status: 429, body: registryError('TOOMANYREQUESTS', 'too many requests') } },
    ];
    const runs = kinds.flatMap((k) => Array.from({ length: perKind }, (_, i) => ({ ...k, repo: `reliability/fault-${k.kind}-${i}-${Date.now()}` })));
    const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    proxy.setRules(runs.map((r) => ({ method: 'PUT', path: new RegExp(`^/v2/${escape(r.repo)}/manifests/`), times: r.times, fault: r.fault })));
    const results = await inBatches(runs, 3, async (r) => {
      const run = await runStep(appCheckout('fault-'), {
        key: 'fault',
        command: 'true',
        config: { image: `${proxy.host}/${r.repo}`, tags: ['v1'], push: true, target: 'runtime', network: 'none' },
      });
      const digest = run.result.metaData?.['buildkit.fault.digest'];
      const served = await fetch(`http://${registry}/v2/${r.repo}/manifests/v1`, { method: 'HEAD', headers: { Accept: accept } });
      const ok = run.code === 0 && served.ok && served.headers.get('docker-content-digest') === digest;
      return { kind: r.kind, ok };
    });
    const byKind = kinds.map((k) => `${k.kind} ${results.filter((r) => r.kind === k.kind && r.ok).length}/${perKind}`).join(', ');
    rows.push(['injected registry faults survived', `${results.filter((r) => r.ok).length} of ${results.length}`, `${byKind} (first manifest PUTs fail)`]);
    log(`faults: ${byKind}`);
  } finally {
    await proxy.stop();
  }
}

rmSync(work, { recursive: true, force: true });

const widths = [0, 1, 2].map((i) => Math.max(...[['measure', 'figure', 'notes'], ...rows].map((r) => String(r[i]).length)));
const line = (r) => `| ${r.map((cell, i) => String(cell).padEnd(widths[i])).join(' | ')} |`;
process.stdout.write(
  [
    line(['measure', 'figure', 'notes']),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
    `(${((Date.now() - started) / 1000).toFixed(0)} s, RELIABILITY_SEED=${initialSeed})`,
  ].join('\n') + '\n',
);

// The skip-unchanged file hash, measured: `node scripts/bench-inputs.mjs` (no engine needed).
// Bundles src/inputs/tree-digest.ts with esbuild into a temp dir (dist/ is not involved),
// writes a context of BENCH_FILES files (default 20 000) in nested directories totalling
// about BENCH_MB (default 500) MB, plus a node_modules of 30 000 small files that its
// .dockerignore excludes, then digests it in a fresh process per run: cold-ish (the files'
// pages evicted with posix_fadvise through python3, the directory entries still cached) and
// warm. Each figure is the median of BENCH_RUNS runs (default 3); peak RSS is the child's
// (Node's own baseline included). Figures, not assertions. The temp dir is removed on exit.
import { build } from 'esbuild';
import { Buffer } from 'node:buffer';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

if (process.argv[2] === '--measure') await measure(...process.argv.slice(3));
else await main();

async function main() {
  const root = resolve(import.meta.dirname, '..');
  const rounds = Number(process.env.BENCH_RUNS ?? 3);
  const work = mkdtempSync(join(tmpdir(), 'buildkit-bench-inputs-'));
  process.on('exit', () => rmSync(work, { recursive: true, force: true }));
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

  const bundle = join(work, 'tree-digest.cjs');
  await build({
    entryPoints: [join(root, 'src/inputs/tree-digest.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: bundle,
    logLevel: 'warning',
  });
  const context = join(work, 'context');
  const started = Date.now();
  const made = writeContext(context, Number(process.env.BENCH_FILES ?? 20_000), Number(process.env.BENCH_MB ?? 500) * 1e6);
  console.log(
    `context: ${made.files} files, ${mb(made.bytes)} MB in ${made.dirs} leaf directories + node_modules (${made.ignored} files, excluded); written in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );

  const filters = {
    dockerignore: { kind: 'dockerignore' },
    'globs src/**': { kind: 'globs', globs: ['src/**'] },
    'all (node_modules too)': { kind: 'all' },
  };
  const evict = evictor(context);
  const rows = [];
  for (const [name, filter] of Object.entries(filters)) {
    if (evict)
      rows.push(
        row(
          `${name}, cold-ish`,
          runs(rounds, () => (evict(), run(bundle, context, filter))),
        ),
      );
    run(bundle, context, filter);
    rows.push(
      row(
        `${name}, warm`,
        runs(rounds, () => run(bundle, context, filter)),
      ),
    );
  }
  const baseline = run(bundle, context, null);
  console.log(
    `\nmedians of ${rounds} runs, ${process.execPath} ${process.version}, ${availableParallelism()} CPUs${evict ? '' : ' (no python3: no cold-ish rows)'}`,
  );
  console.table(rows);
  console.log(`Node's own peak RSS after loading the bundle: ${mb(baseline.maxRssKiB * 1024)} MB`);
}

/** One digest in a fresh process, so that its peak RSS and page cache use are its own. */
function run(bundle, context, filter) {
  const child = spawnSync(process.execPath, [import.meta.filename, '--measure', bundle, context, JSON.stringify(filter)], { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`the digest failed:\n${child.stdout}${child.stderr}`);
  return JSON.parse(child.stdout);
}

async function measure(bundle, context, filterJson) {
  const { digestTree } = createRequire(import.meta.url)(bundle);
  const filter = JSON.parse(filterJson);
  const started = process.hrtime.bigint();
  const tree = filter ? await digestTree(context, filter) : { files: 0, bytes: 0 };
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  console.log(JSON.stringify({ ms, files: tree.files, bytes: tree.bytes, maxRssKiB: process.resourceUsage().maxRSS }));
}

function runs(count, once) {
  return Array.from({ length: count }, once);
}

function row(name, results) {
  const ms = median(results.map((r) => r.ms));
  const [{ files, bytes }] = results;
  return {
    run: name,
    'time (s)': (ms / 1000).toFixed(2),
    files,
    MB: mb(bytes),
    'files/s': Math.round(files / (ms / 1000)),
    'MB/s': Math.round(bytes / 1e6 / (ms / 1000)),
    'peak RSS (MB)': mb(median(results.map((r) => r.maxRssKiB)) * 1024),
  };
}

/**
 * `files` files under src/ (a few large ones, many small), about `bytes` in all, 100 a
 * directory two levels deep; node_modules with many small files, excluded by .dockerignore.
 */
function writeContext(dir, files, bytes) {
  const pool = randomFillSync(Buffer.alloc(16 << 20));
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const large = Math.max(1, Math.round(files / 400));
  const smallBytes = 16 * 1024;
  const largeBytes = Math.max(0, (bytes - (files - large) * smallBytes) / large);
  const dirs = new Set();
  let written = 0;
  const write = (path, size) => {
    const at = join(dir, path);
    const parent = at.slice(0, at.lastIndexOf('/'));
    if (!dirs.has(parent)) {
      mkdirSync(parent, { recursive: true });
      dirs.add(parent);
    }
    const start = Math.floor(random() * (pool.length - size));
    writeFileSync(at, pool.subarray(start, start + size));
    return size;
  };
  for (let i = 0; i < files; i++) {
    const size = i < large ? Math.round(largeBytes * (0.5 + random())) : Math.round(smallBytes * 2 * random());
    written += write(`src/d${i % 20}/e${Math.floor(i / 20) % 10}/f${i}.bin`, Math.min(size, pool.length - 1));
  }
  const sourceDirs = dirs.size;
  let ignored = 0;
  for (; ignored < 30_000; ignored++) write(`node_modules/pkg${ignored % 600}/lib/m${ignored}.js`, 200 + Math.floor(random() * 1800));
  writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY . /\n');
  writeFileSync(join(dir, '.dockerignore'), 'node_modules\n.git\n');
  return { files: files + 2, bytes: written, dirs: sourceDirs, ignored };
}

/** Drops the context's file pages from the page cache (posix_fadvise DONTNEED), when python3 is there. */
function evictor(dir) {
  const script =
    'import os,sys\nfor d,_,fs in os.walk(sys.argv[1]):\n  for f in fs:\n    fd=os.open(os.path.join(d,f),os.O_RDONLY)\n    os.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED)\n    os.close(fd)\n';
  const evict = () => {
    execFileSync('sync', ['-f', dir]);
    execFileSync('python3', ['-c', script, dir]);
  };
  try {
    evict();
    return evict;
  } catch {
    return undefined;
  }
}

function median(values) {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

function mb(bytes) {
  return Math.round(bytes / 1e6);
}

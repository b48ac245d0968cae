import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmdirSync, lutimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pluginEnv } from '../../src/cli/plugin-env';
import { loadConfig } from '../../src/config/load-config';
import { LocalCache, defaultLocalCacheRoot, planCache } from '../../src/plan/cache-plan';
import { finishLocalCache, leaseLocalCache } from '../../src/run/local-cache';
import { buildWritesMetadata, commandHook } from '../support/command-hook';
import { fakeRuntime } from '../support/fake-runtime';
import { scratchDir } from '../support/scratch';

const noSleep = async () => undefined;

function cachePlan(config: Record<string, unknown>, env: Record<string, string>) {
  const loaded = loadConfig({ PATH: '/usr/bin', ...pluginEnv('buildkit#v1', { image: 'r/app', ...config }, 'json') });
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  return planCache(loaded.config, env, false);
}

/** A finished export: what BuildKit writes to a local cache dest. */
function writeExport(dir: string, bytes = 10): void {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'index.json'), '{"schemaVersion":2,"manifests":[]}');
  writeFileSync(join(dir, 'blobs', 'sha256', 'a'), 'x'.repeat(bytes));
}

function localCache(root: string, job: string, maxBytes = 1024 ** 3): LocalCache {
  return { root, reading: join(root, `.reading-${job}`), incoming: join(root, `.incoming-${job}`), lease: join(root, 'leases', job), maxBytes };
}

/** One job: lease, "build" (export), finish. */
async function job(root: string, name: string, at: number, options: { succeeded?: boolean; bytes?: number; maxBytes?: number } = {}) {
  const local = localCache(root, name, options.maxBytes);
  const leased = await leaseLocalCache(local, scratchDir('state-'), noSleep);
  writeExport(local.incoming, options.bytes);
  return { local, leased, finished: await finishLocalCache(local, options.succeeded ?? true, noSleep, at) };
}

const generations = (root: string) =>
  readdirSync(root)
    .filter((name) => name.startsWith('gen-'))
    .sort();
/** Makes a file, directory or symlink (itself, not its target) look `ms` old. */
const age = (path: string, ms: number) => {
  const then = new Date(Date.now() - ms);
  lutimesSync(path, then, then);
};

describe('type: local, planned', () => {
  test('the first build: nothing to import (a notice), an export to a directory of its own', () => {
    const root = scratchDir('local-cache-');
    const plan = cachePlan({ cache: { type: 'local', path: root } }, { BUILDKITE_JOB_ID: 'job-1' });
    expect(plan.imports).toEqual([]);
    expect(plan.exports).toEqual([
      {
        type: 'local',
        attrs: [
          { key: 'dest', value: join(root, '.incoming-job-1') },
          { key: 'mode', value: 'max' },
          { key: 'compression', value: 'zstd' },
          { key: 'ignore-error', value: 'true' },
        ],
      },
    ]);
    expect(plan.notices).toEqual([`cache: no local cache in ${root} yet; this build starts it`]);
    expect(plan.local).toEqual(localCache(root, 'job-1', 10 * 1024 ** 3));
  });

  test('later builds import through a link of their own, made when the job leases the then current generation', async () => {
    const root = scratchDir('local-cache-');
    await job(root, 'job-1', 1000);
    const plan = cachePlan({ cache: { type: 'local', path: root, 'max-size': '2g' } }, { BUILDKITE_JOB_ID: 'job-2' });
    expect(plan.imports).toEqual([{ type: 'local', attrs: [{ key: 'src', value: join(root, '.reading-job-2') }] }]);
    expect(plan.local?.maxBytes).toBe(2 * 1024 ** 3);
  });

  test('the default directory: instance storage when there is some, else the user cache dir; per pipeline', () => {
    expect(defaultLocalCacheRoot({ BUILDKITE_PIPELINE_SLUG: 'web' }, (path) => path === '/mnt/ephemeral')).toBe(
      '/mnt/ephemeral/buildkite-plugin-buildkit/cache/web',
    );
    expect(defaultLocalCacheRoot({ BUILDKITE_PIPELINE_SLUG: 'web', HOME: '/home/agent' }, () => false)).toBe(
      '/home/agent/.cache/buildkite-plugin-buildkit/web',
    );
    expect(defaultLocalCacheRoot({ XDG_CACHE_HOME: '/var/cache/x' }, () => false)).toBe('/var/cache/x/buildkite-plugin-buildkit/local');
  });

  test('bad settings name the option', () => {
    const errors = (cache: Record<string, unknown>) => {
      const loaded = loadConfig({ PATH: '/usr/bin', ...pluginEnv('buildkit#v1', { image: 'r/app', cache }, 'flattened') });
      return loaded.ok ? [] : loaded.errors;
    };
    expect(errors({ type: 'local', 'max-size': 'lots' })).toEqual(['cache.max-size: expected a size such as 5g or 500m; got "lots"']);
    expect(errors({ type: 'registry', path: '/x' })).toEqual(['cache.path: applies to type: local (the cache is type: registry)']);
    expect(errors({ type: 'local', path: 'cache' })).toEqual([
      'cache.path: expected an absolute path on the agent, outside the checkout (the cache is shared by the jobs of the host); got "cache"',
    ]);
  });
});

describe('type: local, kept between jobs', () => {
  test('a successful export becomes current (a symlink); the lease, the link and the export dir go', async () => {
    const root = scratchDir('local-cache-');
    const first = await job(root, 'job-1', 5);
    expect(first.leased).toEqual([]);
    expect(first.finished).toEqual([]);
    expect(readlinkSync(join(root, 'current'))).toBe('gen-5-job-1');
    const second = localCache(root, 'job-2');
    await leaseLocalCache(second, scratchDir('state-'), noSleep);
    expect(readlinkSync(second.reading)).toBe('gen-5-job-1');
    expect(readFileSync(second.lease, 'utf8')).toBe('gen-5-job-1');
    await finishLocalCache(second, false, noSleep, 6);
    expect(generations(root)).toEqual(['gen-5-job-1']);
    expect(readdirSync(root).filter((name) => name.startsWith('.'))).toEqual([]);
    expect(readdirSync(join(root, 'leases'))).toEqual([]);
  });

  test('a failed build keeps nothing of its export', async () => {
    const root = scratchDir('local-cache-');
    await job(root, 'job-1', 5, { succeeded: false });
    expect(generations(root)).toEqual([]);
    expect(existsSync(join(root, 'current'))).toBe(false);
  });

  test('older generations go, unless a running job leases one; stale leases and leftovers of killed jobs do not count', async () => {
    const root = scratchDir('local-cache-');
    await job(root, 'a', 1);
    // A job still building from gen-1-a.
    const reader = localCache(root, 'reader');
    await leaseLocalCache(reader, scratchDir('state-'), noSleep);
    await job(root, 'b', 2);
    await job(root, 'c', 3);
    expect(generations(root)).toEqual(['gen-1-a', 'gen-3-c']);
    expect(readlinkSync(join(root, 'current'))).toBe('gen-3-c');
    // The reader was killed long ago: its lease, link and half-written export are leftovers.
    writeExport(reader.incoming);
    for (const path of [reader.lease, reader.reading, reader.incoming]) age(path, 13 * 3600_000);
    await job(root, 'd', 4);
    expect(generations(root)).toEqual(['gen-4-d']);
    expect(readdirSync(root).filter((name) => name.startsWith('.'))).toEqual([]);
  });

  test('an export larger than max-size is not kept: a warning, and the build goes on', async () => {
    const root = scratchDir('local-cache-');
    const { finished } = await job(root, 'big', 1, { bytes: 500, maxBytes: 100 });
    expect(finished).toEqual([
      "cache: the local cache was not saved: this build's cache (534 bytes) is larger than cache.max-size (100 bytes), so it is not kept; raise max-size; the build goes on",
    ]);
    expect(generations(root)).toEqual([]);
  });

  test('a held lock is waited for; one left by a killed job goes stale; one held too long is a warning', async () => {
    const root = scratchDir('local-cache-');
    const local = localCache(root, 'job-1');
    await leaseLocalCache(local, scratchDir('state-'), noSleep);
    writeExport(local.incoming);
    mkdirSync(join(root, '.lock'));
    const slept: number[] = [];
    const release = async (ms: number) => {
      slept.push(ms);
      if (slept.length === 3) rmdirSync(join(root, '.lock'));
    };
    expect(await finishLocalCache(local, true, release, 7)).toEqual([]);
    expect(slept).toEqual([100, 100, 100]);
    expect(readlinkSync(join(root, 'current'))).toBe('gen-7-job-1');

    mkdirSync(join(root, '.lock'));
    age(join(root, '.lock'), 3 * 60_000);
    const stale = await job(root, 'job-2', 8);
    expect(stale.finished).toEqual([]);
    expect(readlinkSync(join(root, 'current'))).toBe('gen-8-job-2');

    mkdirSync(join(root, '.lock'));
    const held = localCache(root, 'job-3');
    expect(await leaseLocalCache(held, scratchDir('state-'), noSleep)).toEqual([
      `cache: cannot read the local cache: the lock ${join(root, '.lock')} is held by another job for over 60 s; the build goes on`,
    ]);
  });

  test('pre-exit removes an unfinished export, the link and the lease', async () => {
    const root = scratchDir('local-cache-');
    const stateDir = scratchDir('state-');
    const local = localCache(root, 'job-1');
    await leaseLocalCache(local, stateDir, noSleep);
    expect(JSON.parse(readFileSync(join(stateDir, 'cleanup.json'), 'utf8'))).toEqual([
      { argv: ['rm', '-rf', '--', local.incoming, local.reading, local.lease], title: 'removing the unfinished local cache export' },
    ]);
  });

  test('the command hook: leases, builds, promotes', async () => {
    const root = scratchDir('local-cache-');
    const fake = fakeRuntime((argv) => {
      const dest = argv
        .find((arg) => arg.startsWith('type=local,dest='))
        ?.split(',')[1]
        ?.slice('dest='.length);
      if (dest) writeExport(dest);
      return buildWritesMetadata(argv);
    });
    const hook = await commandHook({ image: 'r/app', cache: { type: 'local', path: root } }, fake);
    expect(hook.code).toBe(0);
    expect(readlinkSync(join(root, 'current'))).toMatch(/^gen-\d+-job-1$/);
  });
});

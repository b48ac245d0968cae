import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, utimesSync, writeFileSync } from 'node:fs';
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
  return planCache(loaded.config, env);
}

/** A finished export: what BuildKit writes to a local cache dest. */
function writeExport(dir: string, bytes = 10): void {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'index.json'), '{"schemaVersion":2,"manifests":[]}');
  writeFileSync(join(dir, 'blobs', 'sha256', 'a'), 'x'.repeat(bytes));
}

function localCache(root: string, job: string, generation?: string, maxBytes = 1024 ** 3): LocalCache {
  return { root, generation, incoming: join(root, `.incoming-${job}`), lease: join(root, 'leases', job), maxBytes };
}

const generations = (root: string) =>
  readdirSync(root)
    .filter((name) => name.startsWith('gen-'))
    .sort();

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
    expect(plan.local).toEqual(localCache(root, 'job-1', undefined, 10 * 1024 ** 3));
  });

  test('later builds import the current generation by its own name, so a swap meanwhile changes nothing', async () => {
    const root = scratchDir('local-cache-');
    const first = localCache(root, 'job-1');
    leaseLocalCache(first, scratchDir('state-'));
    writeExport(first.incoming);
    await finishLocalCache(first, true, noSleep, 1000);
    const plan = cachePlan({ cache: { type: 'local', path: root, 'max-size': '2g' } }, { BUILDKITE_JOB_ID: 'job-2' });
    expect(plan.imports).toEqual([{ type: 'local', attrs: [{ key: 'src', value: join(root, 'gen-1000-job-1') }] }]);
    expect(plan.local).toMatchObject({ generation: 'gen-1000-job-1', maxBytes: 2 * 1024 ** 3 });
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
  });
});

describe('type: local, kept between jobs', () => {
  test('a successful export becomes current (a symlink), the lease and the export dir go', async () => {
    const root = scratchDir('local-cache-');
    const local = localCache(root, 'job-1');
    leaseLocalCache(local, scratchDir('state-'));
    expect(readFileSync(local.lease, 'utf8')).toBe('');
    writeExport(local.incoming);
    expect(await finishLocalCache(local, true, noSleep, 5)).toEqual([]);
    expect(readlinkSync(join(root, 'current'))).toBe('gen-5-job-1');
    expect(generations(root)).toEqual(['gen-5-job-1']);
    expect(existsSync(local.incoming)).toBe(false);
    expect(readdirSync(join(root, 'leases'))).toEqual([]);
    expect(existsSync(join(root, '.lock'))).toBe(false);
  });

  test('a failed build keeps nothing of its export', async () => {
    const root = scratchDir('local-cache-');
    const local = localCache(root, 'job-1');
    leaseLocalCache(local, scratchDir('state-'));
    writeExport(local.incoming);
    await finishLocalCache(local, false, noSleep, 5);
    expect(generations(root)).toEqual([]);
    expect(existsSync(join(root, 'current'))).toBe(false);
    expect(existsSync(local.incoming)).toBe(false);
  });

  test('older generations go, unless a running job leases one; stale leases do not count', async () => {
    const root = scratchDir('local-cache-');
    const run = async (job: string, at: number) => {
      const local = localCache(root, job);
      leaseLocalCache(local, scratchDir('state-'));
      writeExport(local.incoming);
      await finishLocalCache(local, true, noSleep, at);
    };
    await run('a', 1);
    // A job still building from gen-1-a, and one that died long ago holding gen-1-a too.
    const reader = localCache(root, 'reader', 'gen-1-a');
    leaseLocalCache(reader, scratchDir('state-'));
    await run('b', 2);
    await run('c', 3);
    expect(generations(root)).toEqual(['gen-1-a', 'gen-3-c']);
    expect(readlinkSync(join(root, 'current'))).toBe('gen-3-c');
    const old = new Date(Date.now() - 13 * 3600_000);
    utimesSync(reader.lease, old, old);
    await run('d', 4);
    expect(generations(root)).toEqual(['gen-4-d']);
  });

  test('an export larger than max-size is not kept, with a warning', async () => {
    const root = scratchDir('local-cache-');
    const local = localCache(root, 'big', undefined, 100);
    leaseLocalCache(local, scratchDir('state-'));
    writeExport(local.incoming, 500);
    const warnings = await finishLocalCache(local, true, noSleep, 1);
    expect(warnings).toEqual([
      expect.stringMatching(/^cache: this build's cache \(0\.00 GiB\) is larger than cache\.max-size \(0\.00 GiB\), so it is not kept/),
    ]);
    expect(generations(root)).toEqual([]);
  });

  test('a held lock is waited for; one left by a killed job goes stale', async () => {
    const root = scratchDir('local-cache-');
    const local = localCache(root, 'job-1');
    leaseLocalCache(local, scratchDir('state-'));
    writeExport(local.incoming);
    mkdirSync(join(root, '.lock'));
    const slept: number[] = [];
    const release = async (ms: number) => {
      slept.push(ms);
      if (slept.length === 3) (await import('node:fs')).rmdirSync(join(root, '.lock'));
    };
    await finishLocalCache(local, true, release, 7);
    expect(slept).toEqual([100, 100, 100]);
    expect(readlinkSync(join(root, 'current'))).toBe('gen-7-job-1');

    const next = localCache(root, 'job-2');
    leaseLocalCache(next, scratchDir('state-'));
    writeExport(next.incoming);
    mkdirSync(join(root, '.lock'));
    const old = new Date(Date.now() - 11 * 60_000);
    utimesSync(join(root, '.lock'), old, old);
    await finishLocalCache(
      next,
      true,
      async () => {
        throw new Error('a stale lock is not waited for');
      },
      8,
    );
    expect(readlinkSync(join(root, 'current'))).toBe('gen-8-job-2');
  });

  test('pre-exit removes an unfinished export and the lease', () => {
    const root = scratchDir('local-cache-');
    const stateDir = scratchDir('state-');
    const local = localCache(root, 'job-1');
    leaseLocalCache(local, stateDir);
    expect(JSON.parse(readFileSync(join(stateDir, 'cleanup.json'), 'utf8'))).toEqual([
      { argv: ['rm', '-rf', '--', local.incoming, local.lease], title: 'removing the unfinished local cache export' },
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

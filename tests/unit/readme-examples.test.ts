import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { interpolateValue } from '../../src/cli/interpolate';
import { pluginEnv } from '../../src/cli/plugin-env';
import { loadConfig } from '../../src/config/load-config';
import { pluginEnvName } from '../../src/config/plugin-name';

// What Buildkite's plugin linter checks, so users' pipelines copied from the README work.
const root = join(__dirname, '..', '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const examplePipelines = readdirSync(join(root, 'examples'), { recursive: true, encoding: 'utf8' })
  .filter((file) => file.endsWith('pipeline.yml'))
  .map((file) => readFileSync(join(root, 'examples', file), 'utf8'));
const blocks = [...readme.matchAll(/```ya?ml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '').concat(examplePipelines);

type Step = { plugins?: Array<Record<string, unknown>> };
const uses = blocks.flatMap((block) =>
  ((YAML.parse(block) as { steps?: Step[] }).steps ?? []).flatMap((step) =>
    (step.plugins ?? []).flatMap((entry) => Object.entries(entry)).filter(([key]) => pluginEnvName(key) === 'BUILDKIT'),
  ),
);

test('the README and examples/ have pipelines that use the plugin', () => {
  expect(uses.length).toBeGreaterThan(0);
});

// Interpolated first, as `buildkite-agent pipeline upload` does.
const uploadEnv = { BUILDKITE_BUILD_NUMBER: '42', BUILDKITE_BRANCH: 'feature/x' };

test.each(uses.map(([key, config], i) => [i, key, config]))('example %i (%s) validates against plugin.yml', (_i, key, config) => {
  const result = loadConfig(pluginEnv(key as string, interpolateValue(config, uploadEnv) as Record<string, unknown>, 'json'));
  expect(result.ok ? [] : result.errors).toEqual([]);
});

test('examples reference a version no older than the latest git tag', () => {
  let latest = '';
  try {
    latest = execFileSync('git', ['-C', root, 'describe', '--tags', '--abbrev=0'], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    // no tags yet
  }
  const major = (v: string) => Number(/^v?(\d+)/.exec(v)?.[1] ?? NaN);
  for (const [key] of uses) {
    const version = (key.split('#')[1] ?? '') as string;
    expect(version).toMatch(/^v\d+(\.\d+\.\d+)?$/);
    if (latest) expect(major(version)).toBeGreaterThanOrEqual(major(latest));
  }
});

test('pinned examples name the version in package.json, which is the latest release tag', () => {
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const pins = [...new Set(uses.map(([key]) => key.split('#')[1] ?? '').filter((pin) => /^v\d+\.\d+\.\d+$/.test(pin)))];
  expect(pins).toEqual([`v${version}`]);
  let tags = '';
  try {
    tags = execFileSync('git', ['-C', root, 'tag', '--list', 'v*.*.*', '--sort=-v:refname'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  } catch {
    // not a git checkout
  }
  const latest = tags.split('\n')[0]?.trim();
  if (latest) expect(latest).toBe(`v${version}`);
});

import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pluginEnv } from '../../src/cli/plugin-env';
import { loadConfig } from '../../src/config/load-config';
import { sourceUrl } from '../../src/plan/oci-labels';
import { commandHook } from '../support/command-hook';
import { scratchDir } from '../support/scratch';

function load(config: Record<string, unknown>, form: 'json' | 'flattened', extra: Record<string, string> = {}) {
  return loadConfig({ PATH: '/usr/bin', ...pluginEnv('buildkit#v1', config, form), ...extra });
}

function errorsOf(config: Record<string, unknown>, form: 'json' | 'flattened', extra: Record<string, string> = {}): string[] {
  const loaded = load(config, form, extra);
  return loaded.ok ? [] : loaded.errors;
}

const forms = ['json', 'flattened'] as const;

describe('an empty tag never pushes latest', () => {
  test.each(forms)('%s: an empty entry is skipped with a notice; all empty is refused; no tags is latest', (form) => {
    const some = load({ image: 'r/app', tags: ['', '1.0'] }, form);
    expect(some.ok && some.config.refs).toEqual(['r/app:1.0']);
    expect(some.ok && some.notices).toContain('tags[0]: empty (an unset variable?); skipped');
    const refused =
      'tags: every tag is empty (an unset variable such as $BUILDKITE_TAG?); not falling back to latest: give a tag, or leave tags out for image:latest';
    expect(errorsOf({ image: 'r/app', tags: [''] }, form)).toEqual([refused]);
    expect(errorsOf({ image: 'r/app', tags: '' }, form)).toEqual([refused]);
    expect(errorsOf({ image: 'r/app', tags: ['  '], push: true }, form)).toEqual([refused]);
    expect(errorsOf({ image: 'r/app', tags: ',,' }, form)).toEqual([refused]);
    const none = load({ image: 'r/app' }, form);
    expect(none.ok && none.config.refs).toEqual(['r/app:latest']);
  });
});

describe('the flattened form refuses the shapes the JSON form refuses', () => {
  test.each([
    [{ image: 'r/app', tags: { release: 'v1' } }, 'tags: expected a string or a list of strings, got a map'],
    [{ platforms: { amd: 'linux/amd64' } }, 'platforms: expected a string or a list of strings, got a map'],
    [{ provenance: { mode: 'max' } }, 'provenance: expected a boolean or string, got a map'],
    [{ builder: { 'driver-opts': { image: 'x' } } }, 'builder.driver-opts: expected a string or a list of strings, got a map'],
    [{ network: ['host'] }, 'network: expected a string, got a list'],
    [{ secrets: { id: 'x' } }, 'secrets: expected an array, got a map'],
  ])('%j', (config, error) => {
    for (const form of forms) expect(errorsOf(config, form)).toEqual([error]);
  });

  test('a scalar where a list of maps belongs is refused, not dropped', () => {
    expect(errorsOf({ login: 5 }, 'flattened')).toEqual(['login: expected an array, got string "5"']);
    expect(errorsOf({ login: 5 }, 'json')).toEqual(['login: expected an array, got number 5']);
  });

  test('one line for a value of the wrong type and outside the enum; an empty network is refused', () => {
    for (const form of forms) {
      expect(errorsOf({ builder: { driver: 5 } }, form)).toHaveLength(1);
      expect(errorsOf({ network: '' }, form)).toEqual(['network: expected a value that is not empty; got string ""']);
    }
  });
});

describe('two entries of the plugin in one step', () => {
  test('are refused, naming both', () => {
    const plugins = JSON.stringify([{ 'buildkit#v1': { image: 'a' } }, { 'docker-login#v3': {} }, { 'org/buildkit-buildkite-plugin#v1.2.0': { image: 'b' } }]);
    expect(errorsOf({ image: 'r/app' }, 'json', { BUILDKITE_PLUGINS: plugins })).toEqual([
      expect.stringMatching(/^plugins: this step lists the buildkit plugin 2 times \(buildkit#v1, org\/buildkit-buildkite-plugin#v1\.2\.0\); /),
    ]);
    const once = JSON.stringify([{ 'buildkit#v1': { image: 'a' } }, { 'docker-login#v3': {} }]);
    expect(errorsOf({ image: 'r/app' }, 'json', { BUILDKITE_PLUGINS: once })).toEqual([]);
  });
});

describe('the source label carries no credentials', () => {
  test('userinfo, query and fragment are stripped', () => {
    expect(sourceUrl('https://x-token:s3cret@github.com/acme/app.git?access_token=s3cret#frag')).toBe('https://github.com/acme/app');
  });
});

describe('an agent started with --no-command-eval', () => {
  const noEval = { BUILDKITE_COMMAND_EVAL: 'false' };

  test("builds, then refuses a step command that is not a script of the checkout, with the agent's words", async () => {
    const job = await commandHook({ image: 'r/app', tags: ['1'] }, undefined, { ...noEval, BUILDKITE_COMMAND: 'echo hi; touch pwned' });
    expect(job.code).toBe(1);
    expect(job.calls.some((call) => call.argv.includes('build'))).toBe(true);
    expect(job.calls.some((call) => call.argv[0] === '/bin/bash')).toBe(false);
    expect(job.log).toContain(
      'This agent is not allowed to evaluate console commands. To allow this, re-run this agent without the `--no-command-eval` option',
    );
  });

  test('runs a script of the checkout itself, never through a shell', async () => {
    const dir = scratchDir('no-eval-');
    mkdirSync(join(dir, 'scripts'));
    writeFileSync(join(dir, 'scripts', 'test.sh'), '#!/bin/sh\nexit 0\n');
    chmodSync(join(dir, 'scripts', 'test.sh'), 0o644);
    const job = await commandHook({ image: 'r/app', tags: ['1'] }, undefined, {
      ...noEval,
      BUILDKITE_BUILD_CHECKOUT_PATH: dir,
      BUILDKITE_COMMAND: 'scripts/test.sh',
    });
    expect(job.code).toBe(0);
    expect(job.calls.at(-1)?.argv).toEqual([join(dir, 'scripts', 'test.sh')]);
    const outside = await commandHook({ image: 'r/app', tags: ['1'] }, undefined, {
      ...noEval,
      BUILDKITE_BUILD_CHECKOUT_PATH: dir,
      BUILDKITE_COMMAND: '../../../bin/sh',
    });
    expect(outside.code).toBe(1);
    expect(outside.log).toContain('This agent is only allowed to run scripts within your repository.');
  });

  test('refuses scan.command too, which fails the scan', async () => {
    const job = await commandHook({ image: 'r/app', tags: ['1'], push: true, scan: { command: 'trivy image x' } }, undefined, {
      ...noEval,
      BUILDKITE_COMMAND: '',
    });
    expect(job.code).toBe(1);
    expect(job.calls.some((call) => call.argv.includes('trivy image x'))).toBe(false);
    expect(job.log).toContain('scan.command: this agent is not allowed to evaluate console commands');
  });
});

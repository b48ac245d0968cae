import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { seconds } from '../../src/cli/options';
import { agentPluginEnv, pluginEnv } from '../../src/cli/plugin-env';
import { runStep } from '../../src/cli/run-step';
import { loadConfig } from '../../src/config/load-config';

// The local runner's model of the agent (src/cli): what it refuses as the agent does, what the
// test-only json form passes, and that no way out leaves its temporary directories behind.

describe('plugin configuration as the agent passes it', () => {
  test('a null option: the agent fails the job (both and flattened), naming the option path', () => {
    expect(agentPluginEnv('buildkit#v1', { image: 'r/a', tags: ['v1', null] }, 'both').refusal).toBe(
      'tags[1]: null is not a value the agent can pass (Unknown type <nil> <nil>)',
    );
    expect(agentPluginEnv('buildkit#v1', { builder: { driver: null } }, 'flattened').refusal).toContain('builder.driver: null');
    expect(() => pluginEnv('buildkit#v1', { tags: null })).toThrow('tags: null');
  });

  test('a null option in the test-only json form reaches the plugin, whose validation names it', () => {
    const { env, refusal } = agentPluginEnv('buildkit#v1', { image: 'r/a', tags: null }, 'json');
    expect(refusal).toBeUndefined();
    expect(env.BUILDKITE_PLUGIN_CONFIGURATION).toBe('{"image":"r/a","tags":null}');
    expect(loadConfig(env)).toEqual({ ok: false, errors: ['tags: expected a string or a list of strings, got null'] });
  });

  test('`buildkit#v1: null` is a plugin with no configuration', () => {
    expect(agentPluginEnv('buildkit#v1', null, 'both')).toEqual({
      env: { BUILDKITE_PLUGIN_NAME: 'BUILDKIT', BUILDKITE_PLUGIN_CONFIGURATION: '{}' },
      optionPaths: {},
    });
  });

  test('a configuration that is not a map is refused as the agent does, never split into characters', () => {
    for (const form of ['both', 'flattened'] as const) {
      const result = agentPluginEnv('buildkit#v1', 'a string', form);
      expect(result.refusal).toBe('Configuration for "buildkit#v1" is not a hash (got a string "a string")');
      expect(result.env).toEqual({});
    }
    expect(agentPluginEnv('buildkit#v1', ['a', 'b'], 'both').refusal).toContain('is not a hash (got a list)');
    // The json form hands it to the plugin, which refuses the shape.
    const json = agentPluginEnv('buildkit#v1', 'a string', 'json');
    expect(json.env).toEqual({ BUILDKITE_PLUGIN_NAME: 'BUILDKIT', BUILDKITE_PLUGIN_CONFIGURATION: '"a string"' });
    expect(loadConfig(json.env)).toEqual({ ok: false, errors: ['(configuration): expected a map of options'] });
  });

  test('the json form still sets the flattened variables the hook shims read (node-download, node-mirror)', () => {
    const { env } = agentPluginEnv('buildkit#v1', { 'node-download': false, 'node-mirror': 'https://mirror.example/node', tags: ['v1'] }, 'json');
    expect(env).toEqual({
      BUILDKITE_PLUGIN_NAME: 'BUILDKIT',
      BUILDKITE_PLUGIN_CONFIGURATION: '{"node-download":false,"node-mirror":"https://mirror.example/node","tags":["v1"]}',
      BUILDKITE_PLUGIN_BUILDKIT_NODE_DOWNLOAD: 'false',
      BUILDKITE_PLUGIN_BUILDKIT_NODE_MIRROR: 'https://mirror.example/node',
    });
  });

  test('the flattened variables record their option paths', () => {
    const { env, optionPaths } = agentPluginEnv('buildkit#v1', { tags: ['v1'], builder: { 'driver-opts': ['a=b'] } }, 'both');
    expect(env.BUILDKITE_PLUGIN_BUILDKIT_BUILDER_DRIVER_OPTS_0).toBe('a=b');
    expect(optionPaths).toMatchObject({
      BUILDKITE_PLUGIN_BUILDKIT_TAGS_0: 'tags[0]',
      BUILDKITE_PLUGIN_BUILDKIT_BUILDER_DRIVER_OPTS_0: 'builder.driver-opts[0]',
    });
  });
});

describe('--cancel-after and --grace', () => {
  test('a number of seconds, fractions allowed', () => {
    expect(seconds('--cancel-after', '0')).toBe(0);
    expect(seconds('--cancel-after', '2.5')).toBe(2.5);
    expect(seconds('--cancel-after', '.5')).toBe(0.5);
  });

  test.each(['soon', '', ' ', '-1', '1s', 'Infinity', 'NaN', '0x10', '1e3'])('%j is refused, never read as 0', (text) => {
    expect(() => seconds('--cancel-after', text)).toThrow(`--cancel-after: expected a number of seconds such as 2 or 0.5, got ${JSON.stringify(text)}`);
  });
});

describe('runStep leaves no temporary directory behind', () => {
  const pluginDir = resolve(__dirname, '..', '..');
  let dir: string;
  let previousTmpdir: string | undefined;
  let stderr: jest.SpyInstance;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'buildkit-unit-runner-'));
    previousTmpdir = process.env.TMPDIR;
    process.env.TMPDIR = join(dir, 'tmp');
    mkdirSync(process.env.TMPDIR);
    stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterEach(() => {
    stderr.mockRestore();
    if (previousTmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previousTmpdir;
    rmSync(dir, { recursive: true, force: true });
  });

  async function run(config: unknown, configForm: 'both' | 'json' | 'flattened' = 'both') {
    const pipeline = join(dir, 'pipeline.yml');
    writeFileSync(pipeline, JSON.stringify({ steps: [{ command: 'touch STEP_RAN', plugins: [{ 'buildkit#v1': config }] }] }));
    const result = await runStep({ pipeline, checkout: dir, pluginDir, env: {}, configForm, graceSeconds: 1 });
    return { result, stderr: stderr.mock.calls.map((call) => String(call[0])).join(''), left: readdirSync(join(dir, 'tmp')) };
  }

  test('a null option: the job fails before any hook, with the option path', async () => {
    const { result, stderr: err, left } = await run({ tags: [null] });
    expect(result).toMatchObject({ code: 1, hookMs: {} });
    expect(err).toBe(
      'buildkit-local: the agent fails the job before any hook runs: tags[0]: null is not a value the agent can pass (Unknown type <nil> <nil>)\n',
    );
    expect(left).toEqual([]);
  });

  test('a string configuration: the job fails before any hook', async () => {
    const { result, stderr: err, left } = await run('a string', 'flattened');
    expect(result.code).toBe(1);
    expect(err).toContain('Configuration for "buildkit#v1" is not a hash');
    expect(left).toEqual([]);
  });

  test('a NUL byte: the hooks cannot start; the message names the variable and its option', async () => {
    const { result, stderr: err, left } = await run({ target: 'a\u0000b' });
    expect(result.code).toBe(1);
    expect(err).toContain(
      'buildkit-local: the agent could not start the environment hook: a variable cannot hold a NUL byte: BUILDKITE_PLUGIN_BUILDKIT_TARGET (option target)',
    );
    expect(err).not.toMatch(/^\s+at /m);
    expect(left).toEqual([]);
  });

  test('E2BIG: the hooks cannot start; the message names the option', async () => {
    const { result, stderr: err, left } = await run({ target: 'x'.repeat(1 << 20) }, 'json');
    expect(result.code).toBe(1);
    expect(err).toContain('the environment is too large for exec (E2BIG)');
    expect(err).toContain('BUILDKITE_PLUGIN_CONFIGURATION (the whole configuration, option target)');
    expect(left).toEqual([]);
  });
});

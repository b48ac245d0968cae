import { pluginEnv } from '../../src/cli/plugin-env';
import { loadConfig } from '../../src/config/load-config';

const base = { PATH: '/usr/bin' };

function load(config: Record<string, unknown>, form: 'json' | 'flattened', key = 'buildkit#v1') {
  return loadConfig({ ...base, ...pluginEnv(key, config, form) });
}

function errorsOf(config: Record<string, unknown>, form: 'json' | 'flattened' = 'json') {
  const result = load(config, form);
  if (result.ok) throw new Error('expected errors');
  return result.errors;
}

const defaults = {
  context: '.',
  buildArgs: [],
  secrets: [],
  ssh: [],
  ecr: { mode: 'auto', accountIds: [], public: false },
  login: [],
  labels: [],
  refs: [],
  push: false,
  tagRules: [],
  pushBranches: [],
  noCache: false,
  cacheFrom: [],
  cacheTo: [],
  progress: 'plain',
  annotate: true,
  artifacts: false,
  metaData: true,
  dryRun: false,
  platforms: [],
  outputs: [],
  load: false,
  pull: false,
  buildContexts: [],
  annotations: [],
  addHosts: [],
  ulimits: [],
  ociLabels: true,
  reproducible: false,
  retries: 2,
  builder: { driver: 'auto', endpoints: [], client: 'auto', nodes: [], driverOpts: [], keep: false },
};
const optionNames =
  'context, dockerfile, target, build-args, secrets, allow-build-args, ssh, ecr, login, scan, labels, network, image, tags, push, push-by-digest, promote, merge, tag-rules, push-branches, no-cache, cache, skip-unchanged, cache-from, cache-to, progress, timeout, artifacts, annotate, meta-data, platforms, outputs, load, pull, build-contexts, annotations, shm-size, add-hosts, ulimit, provenance, sbom, oci-labels, reproducible, retries, builder, bake, dry-run, node-download, node-mirror';

describe('loadConfig: JSON and flattened forms agree', () => {
  test.each<[string, Record<string, unknown>]>([
    ['empty', {}],
    ['scalars', { context: 'app', dockerfile: 'app/Dockerfile.prod', target: 'runtime', network: 'none', progress: 'rawjson' }],
    ['booleans', { push: true, 'no-cache': true, annotate: false, 'meta-data': false, 'dry-run': true, image: 'r/a' }],
    ['tags as list', { image: '127.0.0.1:5000/hello', tags: ['7', 'latest', 'other.example.com/x/y:1'] }],
    ['tags as string', { image: 'registry.example.com/app', tags: 'latest' }],
    ['upper-case map keys', { 'build-args': { NODE_ENV: 'production', VERSION: 3 }, labels: { TEAM: 'core' } }],
    ['list key-values', { 'build-args': ['A=1', 'B=x=y', 'FROM_ENV'], labels: ['org.example.team=core'] }],
    ['node options', { 'node-download': false, 'node-mirror': 'https://mirror.example.com/node' }],
    [
      'every build option',
      {
        image: 'r/app',
        tags: ['1'],
        push: true,
        load: true,
        pull: true,
        platforms: ['linux/amd64', 'linux/arm64'],
        outputs: ['type=local,"dest=a,b"', 'type=tar,dest=x.tar'],
        'build-contexts': ['base=docker-image://alpine:3'],
        annotations: ['index:A=1'],
        'shm-size': '2g',
        'add-hosts': ['db:127.0.0.1'],
        ulimit: ['nofile=1024:1024'],
        provenance: 'mode=max',
        sbom: false,
        'oci-labels': false,
        reproducible: true,
        retries: 5,
        builder: {
          driver: 'docker-container',
          name: 'b1',
          image: 'moby/buildkit:v0.13.2',
          'driver-opts': ['network=host'],
          'buildkitd-flags': '--debug',
          keep: true,
        },
      },
    ],
    ['attestation booleans', { provenance: true, sbom: 'generator=x' }],
    ['bake', { bake: { files: ['a.hcl', 'b.hcl'], targets: 'app', set: ['app.args.A=1,2', '*.platform=linux/arm64'] }, push: true }],
  ])('%s', (_name, config) => {
    const json = load(config, 'json');
    const flattened = load(config, 'flattened');
    expect(json.ok).toBe(true);
    expect(flattened.ok && flattened.config).toEqual(json.ok && json.config);
    expect(flattened.ok && flattened.source).toBe('flattened');
  });

  test.each(['buildkit#v1', 'my-org/buildkit#v1', 'github.com/my-org/buildkit-buildkite-plugin#v1.2.3', './.buildkite/plugins/buildkit'])(
    'flattened variables of %s are found',
    (key) => {
      const result = load({ target: 'runtime', tags: ['r/a:1'] }, 'flattened', key);
      expect(result).toEqual({ ok: true, source: 'flattened', notices: [], config: { ...defaults, target: 'runtime', refs: ['r/a:1'] } });
    },
  );

  test('defaults are applied', () => {
    expect(load({}, 'json')).toEqual({ ok: true, source: 'json', notices: [], config: defaults });
  });

  test('map keys keep their case only in the JSON form (the agent upper-cases flattened keys)', () => {
    const config = { 'build-args': { node_env: 'production' }, labels: { 'org.opencontainers.image.title': 'hello' } };
    const json = load(config, 'json');
    const flattened = load(config, 'flattened');
    expect(json.ok && json.config.buildArgs).toEqual([{ key: 'node_env', value: 'production' }]);
    expect(flattened.ok && flattened.config.buildArgs).toEqual([{ key: 'NODE_ENV', value: 'production' }]);
    expect(json.ok && json.config.labels).toEqual([{ key: 'org.opencontainers.image.title', value: 'hello' }]);
    expect(flattened.ok && flattened.config.labels).toEqual([{ key: 'ORG.OPENCONTAINERS.IMAGE.TITLE', value: 'hello' }]);
  });

  test("the agent's single-underscore copies of names with runs of underscores are not extra options", () => {
    const config = { 'build-args': { MY__VAR: 'x', OTHER: 'y' } };
    const flattened = load(config, 'flattened');
    const json = load(config, 'json');
    expect([json.ok, flattened.ok]).toEqual([true, true]);
    expect(flattened.ok && flattened.config).toEqual(json.ok && json.config);
  });

  test('the JSON form wins when both are present', () => {
    const env = { ...pluginEnv('buildkit#v1', { target: 'a' }, 'flattened'), ...pluginEnv('buildkit#v1', { target: 'b' }, 'json') };
    const result = loadConfig(env);
    expect(result.ok && result.config.target).toBe('b');
  });

  test('a string list is split on commas', () => {
    const result = load({ image: 'r/a', tags: 'one, two' }, 'json');
    expect(result.ok && result.config.refs).toEqual(['r/a:one', 'r/a:two']);
  });
});

describe('loadConfig: every problem at once, with option paths', () => {
  test('unknown option, wrong types and bad enum together', () => {
    expect(errorsOf({ pushh: true, push: 'yes', progress: 'fancy', tags: 5 })).toEqual([
      'pushh: unknown option; expected one of: ' + optionNames,
      'tags: expected a string or a list of strings, got number 5',
      'push: expected a boolean, got string "yes"',
      'progress: expected one of auto, plain, tty, quiet, rawjson; got string "fancy"',
    ]);
  });

  test('the same problems are found in the flattened form', () => {
    expect(errorsOf({ push: 'yes', 'no-cachee': true }, 'flattened')).toEqual([
      'no-cachee: unknown option; expected one of: ' + optionNames,
      'push: expected a boolean, got string "yes"',
    ]);
  });

  test('list items are named by index', () => {
    expect(errorsOf({ image: 'r/a', tags: ['ok', 3], 'build-args': ['=x', 'GOOD=1'] })).toEqual(['tags[1]: expected a string, got number 3']);
    expect(errorsOf({ 'build-args': ['=x', 'GOOD=1'], labels: ['NOVALUE'] })).toEqual([
      'build-args[0]: expected KEY=VALUE or KEY with a non-empty key without spaces; got "=x"',
      'labels[0]: expected KEY=VALUE; got "NOVALUE"',
    ]);
  });

  test('map values must be scalars', () => {
    expect(errorsOf({ 'build-args': { A: { nested: 1 } } })).toEqual(['build-args.A: expected a string, number or boolean, got a map']);
  });

  test('tags need an image or full references', () => {
    expect(errorsOf({ tags: ['latest'] })).toEqual([
      'tags[0]: "latest" is a bare tag; set image, or give a full reference such as registry.example.com/app:latest',
    ]);
    expect(errorsOf({ image: 'Registry/App' })).toEqual([
      'image: expected a repository such as registry.example.com/team/app (lower case); got "Registry/App"',
    ]);
    expect(errorsOf({ image: 'r/a:1', tags: ['latest'] })).toEqual([
      'image: "r/a:1" already has a tag or digest; give the repository alone when tags lists bare tags',
    ]);
    expect(errorsOf({ push: true })).toEqual(['push: there is nothing to push; set image (and tags)']);
  });

  test('bake rejects the options of a single build', () => {
    expect(errorsOf({ bake: { targets: ['app'] }, image: 'r/a', 'build-args': { A: '1' }, push: true })).toEqual([
      'build-args: describes a single build; with bake, set it in the bake file or with bake.set',
      'image: describes a single build; with bake, set it in the bake file or with bake.set',
    ]);
  });

  test('nested options are checked too', () => {
    expect(errorsOf({ builder: { driver: 'k8s', nam: 'x' }, retries: 11, 'shm-size': 'lots' })).toEqual([
      'shm-size: expected a value matching ^[0-9]+[bkmgBKMG]?$; got string "lots"',
      'retries: expected at most 10; got number 11',
      'builder.nam: unknown option; expected one of: driver, endpoint, route-key, client, tls, nodes, name, image, driver-opts, buildkitd-flags, keep',
      'builder.driver: expected one of auto, docker, docker-container, remote, daemonless, kubernetes; got string "k8s"',
    ]);
  });

  test('malformed JSON is reported, not thrown', () => {
    expect(loadConfig({ BUILDKITE_PLUGIN_CONFIGURATION: '{' })).toEqual({
      ok: false,
      errors: [expect.stringMatching(/^BUILDKITE_PLUGIN_CONFIGURATION is not valid JSON/)],
    });
  });
});

describe('loadConfig: one source of truth per fact', () => {
  test('map keys are checked as list keys are', () => {
    expect(errorsOf({ 'build-args': { 'A B': 'x', '': 'y', OK: 'z' } })).toEqual([
      'build-args: expected map keys that are not empty and have no spaces; got "A B"',
      'build-args: expected map keys that are not empty and have no spaces; got ""',
    ]);
    expect(errorsOf({ 'build-args': ['A B=x'] })).toEqual(['build-args[0]: expected KEY=VALUE or KEY with a non-empty key without spaces; got "A B=x"']);
  });

  test('a map from the flattened form says its keys were upper-cased; the JSON form says nothing', () => {
    const config = { 'build-args': { node_env: 'production' }, labels: ['a=b'] };
    expect(load(config, 'flattened')).toMatchObject({
      ok: true,
      notices: [
        "build-args: the agent's flattened variables upper-case map keys (NODE_ENV); an agent >= 3.28 sends the configuration as JSON too, which keeps their case",
      ],
    });
    expect(load(config, 'json')).toMatchObject({ ok: true, notices: [] });
  });

  test('outputs are parsed once, and a spec buildx would refuse fails here with its option path', () => {
    expect(errorsOf({ outputs: ['type=local,dest=ok', 'type=local,"dest=x', 'type=local,dest="a,b"'] })).toEqual([
      'outputs[1]: unterminated quote in the field at column 12; got "type=local,\\"dest=x"',
      'outputs[2]: bare " in a field that is not quoted, at column 17 (quote the whole field: "key=value"); got "type=local,dest=\\"a,b\\""',
    ]);
    const result = load({ outputs: 'type=local,"dest=a,b"' }, 'flattened');
    expect(result.ok && result.config.outputs).toEqual([{ type: 'local', attrs: [{ key: 'dest', value: 'a,b' }] }]);
  });

  test('attestation attributes are parsed once', () => {
    const result = load({ provenance: 'mode=max,builder-id=ci', sbom: false }, 'json');
    expect(result.ok && [result.config.provenance, result.config.sbom]).toEqual([
      {
        enabled: true,
        attrs: [
          { key: 'mode', value: 'max' },
          { key: 'builder-id', value: 'ci' },
        ],
      },
      { enabled: false },
    ]);
    expect(errorsOf({ provenance: 'max' })).toEqual(['provenance: expected true, false or key=value attributes such as mode=max; got "max"']);
  });

  test('image refs are resolved once, in the configuration', () => {
    const result = load({ image: 'r/app', tags: ['1', 'feature/x', 'other.example.com/x:2'] }, 'json');
    expect(result.ok && result.config.refs).toEqual(['r/app:1', 'r/app:feature-x', 'other.example.com/x:2']);
    expect(result.ok && result.notices).toEqual(['tags[1]: "feature/x" is not a valid tag; using "feature-x"']);
  });
});

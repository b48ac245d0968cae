// A corpus of bad plugin configurations, generated from plugin.yml's schema, and the hostile
// values put into every string option of a valid configuration. Used by
// tests/e2e/bad-configs.test.ts and scripts/reliability.mjs (which loads it with ts-node-free
// esbuild, see there): plain data and pure functions, no I/O but reading plugin.yml.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';

export type Form = 'both' | 'json' | 'flattened';
export const forms: Form[] = ['both', 'json', 'flattened'];

export interface BadConfig {
  /** Unique, stable: `<option path> <what is wrong>`. */
  name: string;
  /** The plugin configuration as written in pipeline.yml. */
  config: unknown;
  /** Variables set as the agent would set flattened ones (flattened-only shapes). */
  env?: Record<string, string>;
  /** The forms in which it must be rejected (a string `5` is a fine string once flattened). */
  forms: Form[];
  /** Option paths; every message line must name one of them. */
  paths: string[];
}

interface Schema {
  type?: string | string[];
  anyOf?: Schema[];
  enum?: string[];
  pattern?: string;
  minLength?: number;
  minimum?: number;
  maximum?: number;
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema;
  required?: string[];
  $ref?: string;
}

const root = join(__dirname, '..', '..');
const plugin = YAML.parse(readFileSync(join(root, 'plugin.yml'), 'utf8')) as { configuration: Schema & { definitions: Record<string, Schema> } };
const schema = plugin.configuration;

function resolve(s: Schema): Schema {
  return s.$ref ? resolve(schema.definitions[s.$ref.replace('#/definitions/', '')] as Schema) : s;
}

function types(s: Schema): string[] {
  s = resolve(s);
  if (s.anyOf) return s.anyOf.flatMap(types);
  if (s.type) return Array.isArray(s.type) ? s.type : [s.type];
  if (s.properties) return ['object'];
  return [];
}

/** Sets `value` at `path` (`a.b`, `a[0].b`) inside a fresh configuration holding `base`. */
export function withValue(path: string, value: unknown, base: Record<string, unknown> = {}): Record<string, unknown> {
  const config = structuredClone(base);
  const parts = path.match(/[^.[\]]+|\[\d+\]/g) ?? [];
  let node: Record<string, unknown> | unknown[] = config;
  parts.forEach((part, i) => {
    const key: string | number = part.startsWith('[') ? Number(part.slice(1, -1)) : part;
    const last = i === parts.length - 1;
    const container = node as Record<string | number, unknown>;
    if (last) container[key] = value;
    else {
      if (container[key] === undefined) container[key] = (parts[i + 1] ?? '').startsWith('[') ? [] : {};
      node = container[key] as Record<string, unknown>;
    }
  });
  return config;
}

/** Every option of the schema (nested ones too, list items of maps at [0]), with the values its siblings need. */
export function options(): Array<{ path: string; schema: Schema; base: Record<string, unknown> }> {
  const out: Array<{ path: string; schema: Schema; base: Record<string, unknown> }> = [];
  const walk = (properties: Record<string, Schema>, prefix: string, base: Record<string, unknown>, required: Record<string, unknown>) => {
    for (const [key, raw] of Object.entries(properties)) {
      const s = resolve(raw);
      const path = prefix === '' ? key : `${prefix}.${key}`;
      out.push({ path, schema: s, base });
      const object = s.properties ? s : s.anyOf?.map(resolve).find((b) => b.properties);
      if (object?.properties) {
        // A map with required keys (ecr.assume-role: role-arn) gets them, so only the tested key is wrong.
        const filled = Object.fromEntries((object.required ?? []).map((r) => [r, requiredValue(r)]));
        walk(object.properties, path, Object.keys(filled).length > 0 ? withValue(path, filled, base) : base, filled);
      }
      const items = s.items ? resolve(s.items) : undefined;
      if (items?.properties) {
        // A list of maps: the item's required keys filled in, so only the tested key is wrong.
        const filled: Record<string, unknown> = {};
        for (const r of items.required ?? []) filled[r] = requiredValue(r);
        walk(items.properties, `${path}[0]`, withValue(`${path}[0]`, filled, base), filled);
      }
    }
    void required;
  };
  walk(schema.properties ?? {}, '', {}, {});
  return out;
}

/** What the agent refuses before any hook (see src/cli/plugin-env.ts): a config not a map, or a null inside. */
export function agentRefuses(config: unknown): boolean {
  if (config === null || config === undefined) return false;
  if (typeof config !== 'object' || Array.isArray(config)) return true;
  const hasNull = (v: unknown): boolean => v === null || (typeof v === 'object' && Object.values(v as object).some(hasNull));
  return hasNull(config);
}

const requiredValue = (key: string): string => ({ platforms: 'linux/amd64', id: 'a', 'role-arn': 'arn:aws:iam::123456789012:role/builder' })[key] ?? 'x';

const huge = 'x'.repeat(1 << 20);

/** A look-alike: the first Latin letter that has a Cyrillic twin, swapped for it. */
const lookAlike = (value: string): string =>
  value.replace(/[aeoicpxy]/, (c) => ({ a: 'а', e: 'е', o: 'о', i: 'і', c: 'с', p: 'р', x: 'х', y: 'у' })[c] as string);

/** The corpus: at least 200 bad configurations, each rejected by the environment hook (or, as with an agent, before it). */
export function badConfigs(): BadConfig[] {
  const cases: BadConfig[] = [];
  // The json form (no agent sends it alone) differs from both only where the agent refuses the
  // configuration (a null inside, not a map): there the json form hands it to the plugin.
  const add = (name: string, config: unknown, paths: string[], caseForms: Form[] = forms, env?: Record<string, string>) =>
    cases.push({ name, config, paths, forms: caseForms.filter((f) => f !== 'json' || agentRefuses(config)), ...(env ? { env } : {}) });
  const notFlattened: Form[] = ['both', 'json'];

  for (const { path, schema: s, base } of options()) {
    const alias = path === 'cache.from' ? ['cache-from'] : [];
    const t = types(s);
    const v = (value: unknown) => withValue(path, value, base);
    // cache.from and cache-from flatten to the same names (CACHE_FROM_...): either may be named.
    const isList = t.includes('array');
    const isMap = t.includes('object');
    const isString = t.includes('string');
    const isBool = t.includes('boolean');
    const isInt = t.includes('integer');
    const keyValues = isMap && typeof s.anyOf?.map(resolve).find((b) => b.additionalProperties)?.additionalProperties === 'object';
    const listOfMaps = Boolean(s.items && resolve(s.items).properties);
    const objectOption = isMap && !keyValues;
    // Nested options get the same kinds of wrong value, less of the redundant ones.
    const topLevel = !/[.[]/.test(path);

    // null: the agent refuses it (both, flattened); the json form gives it to the plugin.
    add(`${path} null`, v(null), [path, ...alias]);
    // wrong types
    if (!isString && !isInt) add(`${path} number`, v(5), [path, ...alias], isBool || objectOption ? notFlattened : forms);
    if (topLevel && !isString && !isBool) add(`${path} boolean`, v(true), [path, ...alias], notFlattened);
    if (!isString && (isBool || isInt || objectOption)) add(`${path} string`, v('not-a-value'), [path, ...alias]);
    if (isString && !isList && !isInt) add(`${path} number`, v(7), [path, ...alias], notFlattened);
    if (topLevel && isString && !isList && !isBool) add(`${path} boolean`, v(false), [path, ...alias], notFlattened);
    // wrong shapes
    if (!isList) add(`${path} list`, v(['a', 'b']), [path, ...alias]);
    if (!isMap) add(`${path} map`, v({ a: 'b' }), [path, ...alias]);
    if (topLevel && !listOfMaps && !keyValues) add(`${path} list of maps`, v([{ a: 'b' }]), [path, ...alias]);
    if (topLevel && isList && !listOfMaps) add(`${path} list holding a number`, v(['ok', 3]), [path, ...alias], notFlattened);
    if (topLevel && isList && !listOfMaps) add(`${path} list holding a list`, v([['a']]), [path, ...alias]);
    if (topLevel && isList) add(`${path} list holding null`, v(['ok', null]), [path, ...alias]);
    // values the schema refuses
    if (s.enum) add(`${path} not one of the values`, v('nope'), [path, ...alias]);
    if (s.enum) add(`${path} unicode look-alike`, v(lookAlike(`${s.enum[s.enum.length - 1]}`)), [path, ...alias]);
    if (s.pattern) add(`${path} not matching its pattern`, v('bad value!'), [path, ...alias]);
    if (s.pattern) add(`${path} unicode`, v('ünïcødé☃'), [path, ...alias]);
    if (s.minLength) add(`${path} empty`, v(''), [path, ...alias]);
    if (isInt && s.maximum !== undefined) add(`${path} above its maximum`, v(s.maximum + 1), [path, ...alias]);
    if (isInt && s.minimum !== undefined) add(`${path} below its minimum`, v(s.minimum - 1), [path, ...alias]);
    if (isInt && s.minimum !== undefined) add(`${path} a fraction`, v(s.minimum + 0.5), [path, ...alias]);
    // maps: unknown nested keys; key-value maps: bad keys and values
    if (objectOption) {
      const object = s.properties ? s : s.anyOf?.map(resolve).find((b) => b.properties);
      const filled = Object.fromEntries((object?.required ?? []).map((r) => [r, requiredValue(r)]));
      add(`${path} unknown nested key`, v({ ...filled, bogus: 'x' }), [`${path}.bogus`, ...alias]);
    }
    if (listOfMaps) {
      add(`${path} unknown key in an item`, v([{ bogus: 'x' }]), [path, ...alias]);
      add(`${path} list of strings`, v(['x']), [path, ...alias]);
      // ([{}] flattens to no variable at all: nothing an old agent could show.)
      add(`${path} empty item`, v([{}]), [path, ...alias], notFlattened);
    }
    if (keyValues) {
      // Flattened, these are keys of their own (`A_NESTED=1`, `A_0=1`), and a space in a key is
      // an underscore (`A_B`): an old agent passes a valid map, so only the JSON forms hold them.
      add(`${path} nested map value`, v({ A: { nested: 1 } }), [path, ...alias], notFlattened);
      add(`${path} list value`, v({ A: [1] }), [path, ...alias], notFlattened);
      add(`${path} null value`, v({ A: null }), [path, ...alias]);
      add(`${path} empty key`, v({ '': 'x' }), [path, ...alias]);
      add(`${path} key with spaces`, v({ 'A B': 'x' }), [path, ...alias], notFlattened);
      add(`${path} list entry with an empty key`, v(['=x']), [path, ...alias]);
      add(`${path} list entry with spaces in its key`, v(['A B=x']), [path, ...alias]);
    }
    // huge: 1 MB, more than one variable may hold (E2BIG), in every form
    if (topLevel && (isString || isList)) add(`${path} huge`, v(isList && !isString ? [huge] : huge), [path, ...alias]);
    // a NUL byte: no variable can hold one (the flattened form, so both and flattened)
    if (topLevel && isString && !s.enum) add(`${path} NUL byte`, v('a\u0000b'), [path, ...alias], ['both', 'flattened']);
  }

  // image references and tags
  add('tags empty string', { image: 'r/app', tags: '' }, ['tags']);
  // An empty entry beside a real tag is skipped with a notice (README): not a bad config.
  add('tags only commas', { image: 'r/app', tags: ',,' }, ['tags']);
  add('image empty', { image: '', tags: ['v1'] }, ['image']);
  add('image with spaces', { image: 'r/my app' }, ['image']);
  add('image upper-case repository', { image: 'R/App' }, ['image']);
  add('tags full reference with bad digest', { tags: ['r/app@sha256:xyz'] }, ['tags']);
  // (A tag with characters a tag cannot hold, or over 128 characters, is cleaned with a notice
  // by design, see README "tags": not a bad configuration.)

  // unknown and badly written top-level keys
  add('unknown top-level key', { bogus: 1 }, ['bogus']);
  add('unknown top-level key holding a map', { bogus: { a: 1 } }, ['bogus', 'bogus-a']);
  add('top-level key in upper case', { Tags: ['v1'] }, ['Tags', 'tags']);
  add('top-level key with a trailing space', { 'tags ': ['v1'] }, ['tags ', 'tags']);
  add('top-level key with a space inside', { 'ta gs': ['v1'] }, ['ta gs', 'ta-gs', 'ta-gs-0']);
  add('top-level key with a dot', { 'tags.0': 'v1' }, ['tags.0', 'tags-0', 'tags']);
  add('top-level key with a colon', { 'image:': 'r/app' }, ['image:', 'image']);
  add('top-level key with underscores', { build_args: { A: '1' } }, ['build_args'], notFlattened);
  add('top-level key empty', { '': 'x' }, ['(configuration)', "''", '""'], notFlattened);
  add('top-level key unicode', { tägs: ['v1'] }, ['tägs', 'tägs-0']);

  // the whole configuration of the wrong shape: the agent refuses it; the json form gives it to the plugin
  add('configuration a string', 'a string', ['(configuration)', 'Configuration for']);
  add('configuration a list', ['image', 'r/app'], ['(configuration)', 'Configuration for']);
  add('configuration a number', 5, ['(configuration)', 'Configuration for']);

  // shapes only the flattened form can produce: variables set as an (old) agent would
  const flat = (name: string, vars: Record<string, string>, paths: string[]) =>
    add(
      `flattened ${name}`,
      { image: 'r/app' },
      paths,
      ['flattened'],
      Object.fromEntries(Object.entries(vars).map(([k, val]) => [`BUILDKITE_PLUGIN_BUILDKIT_${k}`, val])),
    );
  flat('TAGS_RELEASE (a map under tags)', { TAGS_RELEASE: 'v1' }, ['tags']);
  flat('TAGS_0_NAME (a map inside the tags list)', { TAGS_0_NAME: 'v1' }, ['tags']);
  flat('TAGS and TAGS_0 together', { TAGS: 'v1', TAGS_0: 'v2' }, ['tags']);
  flat('PLATFORMS_LINUX (a map under platforms)', { PLATFORMS_LINUX: 'amd64' }, ['platforms']);
  flat('PROVENANCE_MODE (a map under provenance)', { PROVENANCE_MODE: 'max' }, ['provenance']);
  flat('SBOM_0 (a list under sbom)', { SBOM_0: 'true' }, ['sbom']);
  flat('BUILDER_DRIVER_OPTS_IMAGE (a map under builder.driver-opts)', { BUILDER_DRIVER_OPTS_IMAGE: 'moby/buildkit' }, ['builder.driver-opts']);
  flat('BUILDER_DRIVER_0 (a list under builder.driver)', { BUILDER_DRIVER_0: 'docker' }, ['builder.driver']);
  flat('BUILDER_ENDPOINT_A (a map under builder.endpoint)', { BUILDER_ENDPOINT_A: 'tcp://x:1' }, ['builder.endpoint']);
  flat('PUSH_0 (a list under push)', { PUSH_0: 'true' }, ['push']);
  flat('PUSH_X (a map under push)', { PUSH_X: 'true' }, ['push']);
  flat('RETRIES_A (a map under retries)', { RETRIES_A: '1' }, ['retries']);
  flat('CACHE_FROM_A (a map under cache-from)', { CACHE_FROM_A: 'r/app:cache' }, ['cache-from']);
  flat('OUTPUTS_TYPE (a map under outputs)', { OUTPUTS_TYPE: 'local' }, ['outputs']);
  flat('SECRETS_ID (a map under secrets)', { SECRETS_ID: 'a' }, ['secrets']);
  flat('SECRETS_0 (a string item of secrets)', { SECRETS_0: 'a' }, ['secrets']);
  flat('LOGIN_0 (a string item of login)', { LOGIN_0: 'r' }, ['login']);
  flat('BUILDER_NODES_0 (a string item of builder.nodes)', { BUILDER_NODES_0: 'tcp://x:1' }, ['builder.nodes']);
  flat('BUILDER (a string for builder)', { BUILDER: 'docker' }, ['builder']);
  flat('BUILDER_TLS_CA_0 (a list under builder.tls.ca)', { BUILDER_TLS_CA_0: 'ca.pem' }, ['builder.tls.ca']);
  flat('ECR_ASSUME_ROLE (a string for ecr.assume-role)', { ECR_ASSUME_ROLE: 'arn' }, ['ecr']);
  flat('BUILD_ARGS_0_A (a map inside the build-args list)', { BUILD_ARGS_0_A: '1' }, ['build-args']);
  flat('BOGUS (an unknown option)', { BOGUS: '1' }, ['bogus']);
  flat('BUILDER_BOGUS (an unknown nested option)', { BUILDER_BOGUS: '1' }, ['builder.bogus', 'builder']);
  flat('TAGS_1 without TAGS_0 (a gap in the list)', { TAGS_1: 'v1' }, ['tags']);
  flat('PUSH empty', { PUSH: '' }, ['push']);
  flat('RETRIES empty', { RETRIES: '' }, ['retries']);
  flat('TAGS empty', { TAGS: '' }, ['tags']);
  flat('TAGS_0 empty', { TAGS_0: '' }, ['tags']);
  flat('DRY_RUN yes', { DRY_RUN: 'yes' }, ['dry-run']);
  flat('RETRIES 1e1', { RETRIES: '1e1' }, ['retries']);

  const names = new Set<string>();
  for (const c of cases) {
    if (names.has(c.name)) throw new Error(`duplicate corpus case ${c.name}`);
    names.add(c.name);
  }
  return cases;
}

/**
 * Cases that fail today because of defects being fixed in src/config (flattened.ts,
 * normalize.ts, image-refs.ts, validate.ts), by `name@form`, with the reason. Listed, never
 * skipped: the test reports each, and fails when one starts passing (so the list shrinks).
 */
export const knownGaps: Record<string, string> = {
  'flattened TAGS and TAGS_0 together@flattened': 'flattened.ts takes TAGS and drops TAGS_0: a value and a list under one name, which no agent sends',
  'flattened TAGS_1 without TAGS_0 (a gap in the list)@flattened':
    'flattened.ts stops a list at its first gap: TAGS_1 is dropped; no agent sends a list with a gap',
};

// ------------------------------------------------------------------- hostile values

/** Payloads that would run a command (touching a marker file) if any shell evaluated them. */
export function hostilePayloads(markerDir: string): Array<{ name: string; value: string; markers: string[] }> {
  const m = (n: string) => `${markerDir}/${n}`;
  return [
    {
      name: 'substitutions and separators',
      value: `a$(touch ${m('dollar')})b\`touch ${m('backtick')}\`c;touch ${m('semicolon')} | touch ${m('pipe')} && touch ${m('and')}`,
      markers: ['dollar', 'backtick', 'semicolon', 'pipe', 'and'].map(m),
    },
    { name: 'newline and a leading dash', value: `--help\ntouch ${m('newline')}\n-x`, markers: [m('newline')] },
  ];
}

/** A valid configuration (dry-run) and every string option a hostile value can go into. */
export const hostileBase: Record<string, unknown> = { image: '127.0.0.1:5000/hostile', tags: ['v1'], 'dry-run': true, network: 'none' };

export function stringOptionPaths(): string[] {
  const paths: string[] = [];
  for (const { path, schema: s } of options()) {
    const t = types(s);
    if (t.includes('string')) paths.push(path);
    else if (t.includes('array') && !(s.items && resolve(s.items).properties)) paths.push(`${path}[0]`);
    if (t.includes('object') && s.anyOf?.map(resolve).some((b) => typeof b.additionalProperties === 'object')) {
      paths.push(`${path}.VALUE`, `${path}.KEY`);
    }
  }
  return paths;
}

/** The configuration with `value` at `path` (`x.KEY` puts it in a key of the map x). */
export function hostileConfig(path: string, value: string): Record<string, unknown> {
  if (path.endsWith('.KEY')) return { ...hostileBase, [path.slice(0, -4)]: { [value]: '1' } };
  if (path.endsWith('.VALUE')) return { ...hostileBase, [path.slice(0, -6)]: { A: value } };
  const item = options().find((o) => o.path === path.replace(/\[0\]$/, ''));
  return withValue(path, value, { ...hostileBase, ...(item?.base ?? {}) });
}

// ------------------------------------------------------------------- judging a run

export interface RunFacts {
  code: number;
  output: string;
  hookMs: Record<string, number>;
  /** Whether the step's own command ran (it touches a marker). */
  stepRan: boolean;
}

/** `buildkit-local: ...` lines about the configuration, `buildkit: error: ...` lines, and the `  - ...` lines under them. */
export function messageLines(output: string): string[] {
  return output
    .split('\n')
    .filter((line) => /^(buildkit: error: | {2}- |buildkit-local: (?!cancelling))/.test(line))
    .filter((line) => line !== 'buildkit: error: the buildkit plugin configuration is invalid:');
}

function namesPath(line: string, paths: string[]): boolean {
  if (line.startsWith('buildkit-local: ')) return paths.some((p) => line.includes(p));
  const subject = line.replace(/^(buildkit: error: | {2}- )/, '').split(': ')[0] ?? '';
  return paths.some((p) => subject === p || subject.startsWith(`${p}.`) || subject.startsWith(`${p}[`) || subject.startsWith(`${p} `) || p.startsWith(subject));
}

/** What is wrong with how a bad configuration was handled: [] when it was rejected as it should be. */
export function judgeRejection(paths: string[], run: RunFacts): string[] {
  const problems: string[] = [];
  if (run.code === 0) problems.push('accepted (exit 0)');
  if (/^(\+ )?docker buildx (build|bake)|^(\+ )?buildctl build/m.test(run.output)) problems.push('a build command ran');
  if (run.stepRan) problems.push("the step's command ran");
  if (run.hookMs.command !== undefined) problems.push('reached the command hook');
  if (/^\s+at /m.test(run.output) || /TypeError|node:internal/.test(run.output)) problems.push('a stack trace');
  const lines = messageLines(run.output);
  if (run.code !== 0 && lines.length === 0) problems.push('no message');
  for (const line of lines) if (!namesPath(line, paths)) problems.push(`a message not naming ${paths.join(' or ')}: ${line.slice(0, 200)}`);
  return problems;
}

/** How it was rejected: by the plugin's environment hook, by the agent before any hook, or at exec (E2BIG, NUL). */
export function rejectedBy(run: RunFacts): 'plugin' | 'agent' | 'exec' | 'not rejected' {
  if (run.code === 0) return 'not rejected';
  if (run.output.includes('buildkit-local: the agent fails the job before any hook runs')) return 'agent';
  if (run.output.includes('buildkit-local: the agent could not start')) return 'exec';
  return 'plugin';
}

import { envKey, pluginEnvName } from '../config/plugin-name';

export type ConfigForm = 'both' | 'json' | 'flattened';

/**
 * What the agent does with a step's plugin configuration, from buildkite/agent
 * `agent/plugin/plugin.go` (CreateFromJSON, ConfigurationToEnvironment, flattenConfigToEnvMap):
 *
 * - `buildkit#v1: null` (or no config) is a plugin with no configuration: `{}`.
 * - Any other config that is not a map (`buildkit#v1: "a string"`, a list, a number) fails
 *   the job before any hook runs: `Configuration for "buildkit#v1" is not a hash`.
 * - Every agent that sends the JSON form (>= 3.28) sends the flattened variables and
 *   BUILDKITE_PLUGIN_NAME with it: an agent never sends only JSON.
 * - Flattening knows strings, booleans, numbers (as written), lists (`_0`, `_1`) and maps
 *   (`_KEY`). A `null` anywhere inside the configuration is "Unknown type <nil> <nil>": the
 *   agent fails the job before any hook runs, so no agent hands a plugin a null option, in
 *   either form (the JSON form is built from the same map and is never sent alone).
 *
 * So `both` (the default) and `flattened` (older agents) refuse those configurations as the
 * agent does: a failed job, no hook run (see `agentRefusal`). `json` is a test-only form no
 * agent produces: it passes the configuration verbatim (nulls, a string, a list), so that the
 * plugin's own handling of shapes an agent would never deliver can be tried; it still sets the
 * flattened variables the hook shims read before Node.js runs (`shimOptions`), which every
 * real agent sets, so that `node-download`/`node-mirror` keep working in that form.
 */
export interface AgentPluginEnv {
  env: Record<string, string>;
  /** Why the agent would fail the job before running any hook, naming the option path. */
  refusal?: string;
  /** The option path of each flattened variable (`tags[0]`, `builder.driver`), for messages. */
  optionPaths: Record<string, string>;
}

/** The options hooks/lib/node.bash reads from flattened variables before Node.js runs. */
export const shimOptions = ['node-download', 'node-mirror'];

export function agentPluginEnv(pluginKey: string, config: unknown, form: ConfigForm = 'both'): AgentPluginEnv {
  const name = pluginEnvName(pluginKey);
  const env: Record<string, string> = {};
  const optionPaths: Record<string, string> = {};
  const map = config === null || config === undefined ? {} : config;
  const isMap = typeof map === 'object' && !Array.isArray(map);
  if (form !== 'json') {
    if (!isMap) return { env, optionPaths, refusal: `Configuration for ${JSON.stringify(pluginKey)} is not a hash (got ${describe(map)})` };
    const nulls = nullPaths(map as Record<string, unknown>, '');
    if (nulls.length > 0) {
      return { env, optionPaths, refusal: nulls.map((path) => `${path}: null is not a value the agent can pass (Unknown type <nil> <nil>)`).join('\n') };
    }
  }
  if (form !== 'flattened') {
    env.BUILDKITE_PLUGIN_NAME = name;
    env.BUILDKITE_PLUGIN_CONFIGURATION = JSON.stringify(map);
    // For messages about a configuration too large to pass (E2BIG): its largest values.
    const big = bigValues(map, '');
    if (big.length > 0) optionPaths.BUILDKITE_PLUGIN_CONFIGURATION = big.join(', ');
  }
  if (!isMap) return { env, optionPaths };
  for (const [key, value] of Object.entries(map as Record<string, unknown>)) {
    if (form === 'json' && !shimOptions.includes(key)) continue;
    if (form === 'json' && (value === null || typeof value === 'object')) continue;
    flatten(`BUILDKITE_PLUGIN_${name}_${envKey(key)}`, value, env, key, optionPaths);
  }
  return { env, optionPaths };
}

/**
 * The variables the agent gives a plugin's hooks: BUILDKITE_PLUGIN_NAME, the JSON form
 * (agent >= 3.28) and the flattened form, built by the agent's own rules. Throws where the
 * agent would fail the job instead (see `agentPluginEnv`).
 */
export function pluginEnv(pluginKey: string, config: unknown, form: ConfigForm = 'both'): Record<string, string> {
  const result = agentPluginEnv(pluginKey, config, form);
  if (result.refusal !== undefined) throw new Error(result.refusal);
  return result.env;
}

export function flatten(prefix: string, value: unknown, into: Record<string, string>, path = '', paths: Record<string, string> = {}): void {
  if (Array.isArray(value)) {
    value.forEach((item, index) => flatten(`${prefix}_${index}`, item, into, `${path}[${index}]`, paths));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) flatten(`${prefix}_${envKey(key)}`, item, into, path === '' ? key : `${path}.${key}`, paths);
  } else if (value === null || value === undefined) {
    throw new Error(`${path || prefix}: null is not a value the agent can pass (Unknown type <nil> <nil>)`);
  } else {
    into[prefix] = String(value);
    paths[prefix] = path;
    // The agent also sets the single-underscore spelling of names with runs of underscores.
    const single = prefix.replace(/_+/g, '_');
    if (single !== prefix) {
      into[single] = String(value);
      paths[single] = path;
    }
  }
}

/** The option paths holding null (or undefined), depth first. */
function nullPaths(value: unknown, path: string): string[] {
  if (value === null || value === undefined) return [path];
  if (Array.isArray(value)) return value.flatMap((item, index) => nullPaths(item, `${path}[${index}]`));
  if (typeof value === 'object') return Object.entries(value).flatMap(([key, item]) => nullPaths(item, path === '' ? key : `${path}.${key}`));
  return [];
}

/** The option paths of values over 64 KiB. */
function bigValues(value: unknown, path: string): string[] {
  if (typeof value === 'string') return value.length > 65536 ? [path || '(configuration)'] : [];
  if (Array.isArray(value)) return value.flatMap((item, index) => bigValues(item, `${path}[${index}]`));
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([key, item]) => bigValues(item, path === '' ? key : `${path}.${key}`));
  return [];
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `a string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return `${typeof value} ${JSON.stringify(value)}`;
}

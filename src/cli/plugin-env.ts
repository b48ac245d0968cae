import { envKey, pluginEnvName } from '../config/plugin-name';

export type ConfigForm = 'both' | 'json' | 'flattened';

/**
 * The variables the agent gives a plugin's hooks: BUILDKITE_PLUGIN_NAME, the JSON form
 * (agent >= 3.28) and the flattened form, built by the agent's own rules.
 */
export function pluginEnv(pluginKey: string, config: Record<string, unknown>, form: ConfigForm = 'both'): Record<string, string> {
  const name = pluginEnvName(pluginKey);
  const env: Record<string, string> = {};
  if (form !== 'flattened') {
    env.BUILDKITE_PLUGIN_NAME = name;
    env.BUILDKITE_PLUGIN_CONFIGURATION = JSON.stringify(config);
  }
  if (form !== 'json') {
    for (const [key, value] of Object.entries(config)) flatten(`BUILDKITE_PLUGIN_${name}_${envKey(key)}`, value, env);
  }
  return env;
}

export function flatten(prefix: string, value: unknown, into: Record<string, string>): void {
  if (Array.isArray(value)) {
    value.forEach((item, index) => flatten(`${prefix}_${index}`, item, into));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) flatten(`${prefix}_${envKey(key)}`, item, into);
  } else if (value === null || value === undefined) {
    throw new Error(`${prefix}: the agent cannot pass a null plugin option`);
  } else {
    into[prefix] = String(value);
    // The agent also sets the single-underscore spelling of names with runs of underscores.
    const single = prefix.replace(/_+/g, '_');
    if (single !== prefix) into[single] = String(value);
  }
}

import { pluginEnvName } from './plugin-name';
import { applyJobRules } from './job-rules';
import { decodeFlattened } from './flattened';
import { ConfigSource, normalizeConfig } from './normalize';
import { Config } from './types';
import { validateConfig } from './validate';

type Env = Record<string, string | undefined>;

export type LoadResult = { ok: true; config: Config; source: ConfigSource; notices: string[] } | { ok: false; errors: string[] };

/**
 * The plugin's configuration from the agent's environment: the lossless JSON form when the
 * agent sends it (>= 3.28), else the flattened BUILDKITE_PLUGIN_<NAME>_* variables.
 */
export function loadConfig(env: Env): LoadResult {
  const twice = repeatedEntries(env);
  if (twice) return { ok: false, errors: [twice] };
  const json = env.BUILDKITE_PLUGIN_CONFIGURATION;
  let raw: unknown;
  let source: ConfigSource;
  if (json !== undefined && json !== '') {
    try {
      raw = JSON.parse(json);
    } catch (error) {
      return { ok: false, errors: [`BUILDKITE_PLUGIN_CONFIGURATION is not valid JSON: ${(error as Error).message}`] };
    }
    source = 'json';
  } else {
    raw = decodeFlattened(env, `BUILDKITE_PLUGIN_${env.BUILDKITE_PLUGIN_NAME || 'BUILDKIT'}`);
    source = 'flattened';
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, errors: ['(configuration): expected a map of options'] };
  }
  const validated = validateConfig(raw);
  if (!validated.ok) return validated;
  const { config, errors, notices } = normalizeConfig(validated.value, source, new Set(Object.keys(raw)));
  if (errors.length === 0) applyJobRules(config, validated.value.image as string | undefined, env, notices, errors);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config, source, notices };
}

/**
 * Two entries of this plugin in one step would each build, run the step command and report
 * under the same keys, the second silently overwriting the first: refused. The agent lists
 * a step's plugins in BUILDKITE_PLUGINS.
 */
function repeatedEntries(env: Env): string | undefined {
  let plugins: unknown;
  try {
    plugins = JSON.parse(env.BUILDKITE_PLUGINS ?? '[]');
  } catch {
    return undefined;
  }
  if (!Array.isArray(plugins)) return undefined;
  const name = env.BUILDKITE_PLUGIN_NAME || 'BUILDKIT';
  const entries = plugins.flatMap((entry) => (entry && typeof entry === 'object' ? Object.keys(entry) : [])).filter((key) => pluginEnvName(key) === name);
  if (entries.length < 2) return undefined;
  return (
    `plugins: this step lists the buildkit plugin ${entries.length} times (${entries.join(', ')}); each entry would build and run the step command, ` +
    'the later one overwriting the digest, refs and annotation of the earlier: use one entry per step (a step per image, or bake for several)'
  );
}

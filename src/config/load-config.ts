import { resolveImageRefs } from '../plan/image-refs';
import { decodeFlattened } from './flattened';
import { normalizeConfig } from './normalize';
import { Config } from './types';
import { validateConfig } from './validate';

type Env = Record<string, string | undefined>;

/** Options of one `docker buildx build`; a bake file says these per target. */
const singleBuildOptions = [
  'context', 'dockerfile', 'target', 'build-args', 'labels', 'network', 'image', 'tags', 'platforms', 'outputs',
  'build-contexts', 'annotations', 'shm-size', 'add-hosts', 'ulimit', 'provenance', 'sbom',
];

export type LoadResult = { ok: true; config: Config; source: 'json' | 'flattened' } | { ok: false; errors: string[] };

/**
 * The plugin's configuration from the agent's environment: the lossless JSON form when the
 * agent sends it (>= 3.28), else the flattened BUILDKITE_PLUGIN_<NAME>_* variables.
 */
export function loadConfig(env: Env): LoadResult {
  const json = env.BUILDKITE_PLUGIN_CONFIGURATION;
  let raw: unknown;
  let source: 'json' | 'flattened';
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
  const explicit = new Set(Object.keys(raw as object));
  const { config, errors } = normalizeConfig(validated.value);
  if (config.builder.keep && !config.builder.name) {
    // The default name is new in every job: each job would leave one more buildkitd running.
    errors.push(
      'builder.keep: a kept builder is found again by its name, so set builder.name too (the default name, ' +
        'buildkite-<job id>, is different in every job, and each job would leave another builder running on the agent)',
    );
  }
  if (config.bake) {
    errors.push(...singleBuildOptions.filter((option) => explicit.has(option)).map((option) => `${option}: describes a single build; with bake, set it in the bake file or with bake.set`));
  } else {
    errors.push(...resolveImageRefs(config.image, config.tags).errors);
    if (config.push && config.image === undefined && config.tags.length === 0 && config.outputs.length === 0) {
      errors.push('push: there is nothing to push; set image (and tags)');
    }
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config, source };
}

import { Attestation, BakeConfig, BuilderConfig, BuilderDriver, Config, KeyValue, Progress } from './types';

type Raw = Record<string, unknown>;

/** Turns validated, defaulted raw options into a Config; returns problems ajv cannot see. */
export function normalizeConfig(raw: Raw): { config: Config; errors: string[] } {
  const errors: string[] = [];
  const config: Config = {
    context: raw.context as string,
    dockerfile: raw.dockerfile as string | undefined,
    target: raw.target as string | undefined,
    buildArgs: keyValues(raw['build-args'], 'build-args', true, errors),
    labels: keyValues(raw.labels, 'labels', false, errors),
    network: raw.network as string | undefined,
    image: raw.image as string | undefined,
    tags: list(raw.tags),
    push: raw.push as boolean,
    noCache: raw['no-cache'] as boolean,
    progress: raw.progress as Progress,
    annotate: raw.annotate as boolean,
    metaData: raw['meta-data'] as boolean,
    dryRun: raw['dry-run'] as boolean,
    platforms: list(raw.platforms),
    outputs: lines(raw.outputs),
    load: raw.load as boolean,
    pull: raw.pull as boolean,
    buildContexts: keyValues(raw['build-contexts'], 'build-contexts', false, errors),
    annotations: keyValues(raw.annotations, 'annotations', false, errors),
    shmSize: raw['shm-size'] as string | undefined,
    addHosts: list(raw['add-hosts']),
    ulimits: list(raw.ulimit),
    provenance: attestation(raw.provenance),
    sbom: attestation(raw.sbom),
    ociLabels: raw['oci-labels'] as boolean,
    retries: raw.retries as number,
    builder: builder((raw.builder ?? {}) as Raw),
    bake: raw.bake === undefined ? undefined : bake(raw.bake as Raw),
  };
  return { config, errors };
}

/** A string-or-list option as a list; a comma string is split, as build-push-action does. */
export function list(value: unknown): string[] {
  if (value === undefined) return [];
  const items = Array.isArray(value) ? value.map(String) : String(value).split(/[,\n]/);
  return items.map((item) => item.trim()).filter((item) => item !== '');
}

/** A list option whose items may hold commas (exporter specs, bake overrides): one per line. */
export function lines(value: unknown): string[] {
  if (value === undefined) return [];
  const items = Array.isArray(value) ? value.map(String) : String(value).split('\n');
  return items.map((item) => item.trim()).filter((item) => item !== '');
}

function attestation(value: unknown): Attestation {
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  return value as string | undefined;
}

function builder(raw: Raw): BuilderConfig {
  return {
    driver: (raw.driver ?? 'auto') as BuilderDriver,
    name: raw.name as string | undefined,
    image: raw.image as string | undefined,
    driverOpts: list(raw['driver-opts']),
    buildkitdFlags: raw['buildkitd-flags'] as string | undefined,
    keep: (raw.keep ?? false) as boolean,
  };
}

function bake(raw: Raw): BakeConfig {
  return { files: list(raw.files), targets: list(raw.targets), set: lines(raw.set) };
}

function keyValues(value: unknown, option: string, allowBareKey: boolean, errors: string[]): KeyValue[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    return Object.entries(value as Record<string, unknown>).map(([key, v]) => ({ key, value: String(v) }));
  }
  const result: KeyValue[] = [];
  value.forEach((item: string, index) => {
    const eq = item.indexOf('=');
    const key = eq === -1 ? item : item.slice(0, eq);
    if (key.trim() === '' || /\s/.test(key)) {
      errors.push(`${option}[${index}]: expected KEY=VALUE${allowBareKey ? ' or KEY' : ''} with a non-empty key without spaces; got ${JSON.stringify(item)}`);
    } else if (eq === -1 && !allowBareKey) {
      errors.push(`${option}[${index}]: expected KEY=VALUE; got ${JSON.stringify(item)}`);
    } else {
      result.push(eq === -1 ? { key, fromEnv: true } : { key, value: item.slice(eq + 1) });
    }
  });
  return result;
}

import { CsvError, readCsvRecord } from './csv';
import { ageSeconds } from './duration';
import { Field, outputGrammar, parseSpecs } from './exporter';
import { resolveImageRefs } from './image-refs';
import { kubernetesDriverOptErrors } from './kubernetes-driver-opts';
import { lines, list } from './list';
import { ecrSettings, registryLogins } from './registry-auth';
import { scanSettings } from './scan';
import { cacheSettings, cacheSpecs } from './cache';
import { skipUnchangedSettings } from './skip-unchanged';
import { secretLookingBuildArgs, secretSources, sshEntries } from './secrets';
import { TagRule } from './job-rules';
import { nonBuildingOptions, promoteSettings } from './promote';
import { mergeSettings } from './merge';
import { Attestation, BakeConfig, BuilderConfig, BuilderDriver, Config, KeyValue, Progress, TlsConfig } from './types';

type Raw = Record<string, unknown>;
export type ConfigSource = 'json' | 'flattened';

export interface Normalized {
  config: Config;
  errors: string[];
  notices: string[];
}

/** Options of one `docker buildx build`; a bake file says these per target. */
const singleBuildOptions = [
  'context',
  'dockerfile',
  'target',
  'build-args',
  'labels',
  'network',
  'image',
  'tags',
  'tag-rules',
  'push-by-digest',
  'platforms',
  'outputs',
  'build-contexts',
  'annotations',
  'shm-size',
  'add-hosts',
  'ulimit',
  'provenance',
  'sbom',
  'reproducible',
];

/** Turns validated, defaulted raw options into a Config; returns problems ajv cannot see. */
export function normalizeConfig(raw: Raw, source: ConfigSource, explicit: Set<string>): Normalized {
  const errors: string[] = [];
  const notices: string[] = [];
  const maps = { source, errors, notices };
  const image = raw.image as string | undefined;
  const tagRules = (raw['tag-rules'] ?? []) as TagRule[];
  const promote = promoteSettings(raw.promote, errors);
  const merge = mergeSettings(raw.merge, errors);
  // With tag rules, the tags come from the job; `latest` only from the rule of that name.
  // A promote step's tags are promote.tags.
  const images = resolveImageRefs(image, promote ? promote.tags : givenTags(raw.tags), tagRules.length === 0 && !promote);
  const config: Config = {
    context: raw.context as string,
    dockerfile: raw.dockerfile as string | undefined,
    target: raw.target as string | undefined,
    buildArgs: keyValues(raw['build-args'], 'build-args', true, maps),
    secrets: secretSources(raw.secrets, errors),
    ssh: sshEntries(raw.ssh, errors),
    ecr: ecrSettings(raw.ecr, errors),
    login: registryLogins(raw.login, errors),
    scan: scanSettings(raw.scan, errors),
    labels: keyValues(raw.labels, 'labels', false, maps),
    network: raw.network as string | undefined,
    refs: images.refs,
    push: raw.push as boolean,
    tagRules,
    promote,
    merge,
    pushByDigest: raw['push-by-digest'] === true ? image : undefined,
    pushBranches: list(raw['push-branches']),
    noCache: raw['no-cache'] as boolean,
    cache: cacheSettings(raw.cache, errors),
    cacheFrom: cacheSpecs(raw['cache-from'], 'cache-from', errors),
    cacheTo: cacheSpecs(raw['cache-to'], 'cache-to', errors),
    skipUnchanged: skipUnchangedSettings(raw['skip-unchanged'], errors),
    progress: raw.progress as Progress,
    annotate: raw.annotate as boolean,
    artifacts: raw.artifacts as boolean,
    metaData: raw['meta-data'] as boolean,
    dryRun: raw['dry-run'] as boolean,
    platforms: list(raw.platforms),
    outputs: parseSpecs(lines(raw.outputs), 'outputs', outputGrammar, errors),
    load: raw.load as boolean,
    pull: raw.pull as boolean,
    buildContexts: keyValues(raw['build-contexts'], 'build-contexts', false, maps),
    annotations: keyValues(raw.annotations, 'annotations', false, maps),
    shmSize: raw['shm-size'] as string | undefined,
    addHosts: list(raw['add-hosts']),
    ulimits: list(raw.ulimit),
    provenance: attestation(raw.provenance, 'provenance', errors),
    sbom: attestation(raw.sbom, 'sbom', errors),
    ociLabels: raw['oci-labels'] as boolean,
    reproducible: raw.reproducible as boolean,
    retries: raw.retries as number,
    timeoutSeconds: buildTimeout(raw.timeout, errors),
    builder: builder((raw.builder ?? {}) as Raw, errors),
    bake: raw.bake === undefined ? undefined : bake(raw.bake as Raw),
  };
  errors.push(...secretLookingBuildArgs(config.buildArgs, list(raw['allow-build-args'])));
  if (config.reproducible && config.buildArgs.some((arg) => arg.key === 'SOURCE_DATE_EPOCH')) {
    errors.push('build-args: SOURCE_DATE_EPOCH is set by reproducible: true (the commit time); remove one of them');
  }
  if (config.bake && config.cache) {
    errors.push(
      'cache: with bake, each target needs a cache of its own: set cache-from / cache-to in the bake file, or use cache-from and cache-to (applied to every target)',
    );
  }
  if (config.bake && config.skipUnchanged) {
    errors.push('skip-unchanged: applies to a single build; with bake, each target would need a key of its own');
  }
  if (config.bake && (config.secrets.length > 0 || config.ssh.length > 0)) {
    errors.push(`${config.secrets.length > 0 ? 'secrets' : 'ssh'}: with bake, declare secrets and ssh in the bake file (secret = [...], ssh = [...])`);
  }
  if (config.builder.keep && !config.builder.name) {
    // The default name is new in every job: each job would leave one more buildkitd running.
    errors.push(
      'builder.keep: a kept builder is found again by its name, so set builder.name too (the default name, ' +
        'buildkite-<job id>, is different in every job, and each job would leave another builder running on the agent)',
    );
  }
  if (raw['push-by-digest'] === true) {
    if (image === undefined || /[:@]/.test(image.split('/').pop() ?? ''))
      errors.push('push-by-digest: the image is pushed by digest into image; set image to a repository without a tag');
    for (const option of ['tags', 'tag-rules', 'outputs', 'load', 'skip-unchanged'].filter((name) => explicit.has(name)))
      errors.push(`${option}: a push-by-digest step pushes its image by digest alone; tag it in the merge step (merge: { steps: [...] })`);
    config.push = true;
    config.refs = [];
  }
  if (config.artifacts && !config.outputs.some((output) => ['local', 'tar', 'oci'].includes(output.type))) {
    errors.push('artifacts: there is nothing to upload; add an output that writes files, such as type=local,dest=dist or type=oci,dest=image.tar');
  }
  const job = promote
    ? { option: 'promote', builds: 'the step promote.from names' }
    : merge
      ? { option: 'merge', builds: 'the steps merge.steps names' }
      : undefined;
  if (job) {
    const allowed = [...nonBuildingOptions, job.option, ...(merge ? ['tags'] : [])];
    const building = [...explicit].filter((option) => !allowed.includes(option));
    errors.push(...building.map((option) => `${option}: a ${job.option} step builds nothing; build in ${job.builds}`));
    // What the step pushes: the logins are planned as for a push of these refs.
    config.push = true;
  }
  if (config.bake) {
    const single = singleBuildOptions.filter((option) => explicit.has(option));
    errors.push(...single.map((option) => `${option}: describes a single build; with bake, set it in the bake file or with bake.set`));
    config.refs = [];
  } else {
    errors.push(...images.errors);
    notices.push(...images.notices);
    if (tagRules.length > 0 && (image === undefined || /[:@]/.test(image.split('/').pop() ?? ''))) {
      errors.push('tag-rules: the tags go on image; set image to a repository without a tag, such as registry.example.com/team/app');
    }
    if (promote && promote.tags.length === 0 && tagRules.length === 0) errors.push('promote.tags: give the tags to promote to (or tag-rules)');
    else if (merge && config.refs.length === 0 && tagRules.length === 0) errors.push('tags: give image and the tags of the merged image (or tag-rules)');
    else if (
      config.push &&
      config.refs.length === 0 &&
      config.outputs.length === 0 &&
      images.errors.length === 0 &&
      tagRules.length === 0 &&
      !config.pushByDigest
    ) {
      errors.push('push: there is nothing to push; set image (and tags)');
    }
  }
  return { config, errors, notices };
}

/** `timeout`: seconds, or a duration such as 30m or 1h30m. */
function buildTimeout(value: unknown, errors: string[]): number | undefined {
  if (value === undefined) return undefined;
  const seconds = ageSeconds(String(value).trim());
  if (seconds === undefined || seconds < 1) {
    errors.push(`timeout: expected a duration of at least 1s, such as 1800, 30m or 1h30m; got ${JSON.stringify(value)}`);
    return undefined;
  }
  return seconds;
}

/** Each tag as given, empty ones kept (so they can be told apart from no tags); a string is split at commas. */
function givenTags(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value.map(String);
  const text = String(value);
  const tags = text.split(/[,\n]/).filter((tag) => tag.trim() !== '');
  // Nothing but separators is an empty tag too, never image:latest.
  return tags.length > 0 ? tags : [''];
}

function attestation(value: unknown, option: string, errors: string[]): Attestation {
  if (value === undefined) return undefined;
  if (value === false || value === 'false') return { enabled: false };
  if (value === true || value === 'true') return { enabled: true, attrs: [] };
  let fields: string[];
  try {
    fields = readCsvRecord(String(value));
  } catch (error) {
    if (!(error instanceof CsvError)) throw error;
    errors.push(`${option}: ${error.message}`);
    return undefined;
  }
  const attrs: Field[] = [];
  for (const field of fields) {
    const eq = field.indexOf('=');
    if (eq <= 0) {
      errors.push(`${option}: expected true, false or key=value attributes such as mode=max; got ${JSON.stringify(value)}`);
      return undefined;
    }
    attrs.push({ key: field.slice(0, eq), value: field.slice(eq + 1) });
  }
  return { enabled: true, attrs };
}

function builder(raw: Raw, errors: string[]): BuilderConfig {
  const endpoints = list(raw.endpoint);
  const kubernetes = raw.driver === 'kubernetes';
  const nodes = ((raw.nodes ?? []) as Raw[]).map((node) => ({
    endpoint: node.endpoint as string | undefined,
    platforms: list(node.platforms),
    tls: node.tls as TlsConfig | undefined,
    driverOpts: list(node['driver-opts']),
  }));
  endpoints.forEach((endpoint, i) => checkEndpoint(endpoint, Array.isArray(raw.endpoint) ? `builder.endpoint[${i}]` : 'builder.endpoint', errors));
  nodes.forEach((node, i) => {
    const at = `builder.nodes[${i}]`;
    if (kubernetes && node.endpoint !== undefined)
      errors.push(`${at}.endpoint: a kubernetes node is a Deployment the driver creates; give it driver-opts (e.g. nodeselector), not an endpoint`);
    else if (!kubernetes && node.endpoint === undefined) errors.push(`${at}.endpoint: is required (a remote builder for ${node.platforms.join(', ')})`);
    else if (node.endpoint !== undefined) checkEndpoint(node.endpoint, `${at}.endpoint`, errors);
    if (!kubernetes && node.driverOpts.length > 0) errors.push(`${at}.driver-opts: only kubernetes nodes take driver options`);
  });
  const driverOpts = list(raw['driver-opts']);
  if (kubernetes) {
    errors.push(...kubernetesDriverOptErrors(driverOpts, 'builder.driver-opts'));
    nodes.forEach((node, i) => errors.push(...kubernetesDriverOptErrors(node.driverOpts, `builder.nodes[${i}].driver-opts`)));
  }
  checkTls(raw.tls as TlsConfig | undefined, 'builder.tls', errors);
  nodes.forEach((node, i) => checkTls(node.tls, `builder.nodes[${i}].tls`, errors));
  return {
    driver: (raw.driver ?? 'auto') as BuilderDriver,
    endpoints,
    routeKey: raw['route-key'] as string | undefined,
    client: (raw.client ?? 'auto') as BuilderConfig['client'],
    tls: raw.tls as TlsConfig | undefined,
    nodes,
    name: raw.name as string | undefined,
    image: raw.image as string | undefined,
    driverOpts,
    buildkitdFlags: raw['buildkitd-flags'] as string | undefined,
    keep: (raw.keep ?? false) as boolean,
  };
}

function bake(raw: Raw): BakeConfig {
  return { files: list(raw.files), targets: list(raw.targets), set: lines(raw.set) };
}

interface MapContext {
  source: ConfigSource;
  errors: string[];
  notices: string[];
}

/** A map or a `K=V` list; keys are checked the same way in both forms. */
function keyValues(value: unknown, option: string, allowBareKey: boolean, context: MapContext): KeyValue[] {
  if (value === undefined) return [];
  const validKey = (key: string) => key.trim() !== '' && !/\s/.test(key);
  if (!Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    const bad = entries.filter(([key]) => !validKey(key));
    for (const [key] of bad) context.errors.push(`${option}: expected map keys that are not empty and have no spaces; got ${JSON.stringify(key)}`);
    if (context.source === 'flattened' && entries.some(([key]) => /[A-Z]/.test(key))) {
      context.notices.push(
        `${option}: the agent's flattened variables upper-case map keys (${entries.map(([key]) => key).join(', ')}); ` +
          'an agent >= 3.28 sends the configuration as JSON too, which keeps their case',
      );
    }
    return entries.filter(([key]) => validKey(key)).map(([key, v]) => ({ key, value: String(v) }));
  }
  const result: KeyValue[] = [];
  value.forEach((item: string, index) => {
    const eq = item.indexOf('=');
    const key = eq === -1 ? item : item.slice(0, eq);
    if (!validKey(key)) {
      context.errors.push(
        `${option}[${index}]: expected KEY=VALUE${allowBareKey ? ' or KEY' : ''} with a non-empty key without spaces; got ${JSON.stringify(item)}`,
      );
    } else if (eq === -1 && !allowBareKey) {
      context.errors.push(`${option}[${index}]: expected KEY=VALUE; got ${JSON.stringify(item)}`);
    } else {
      result.push(eq === -1 ? { key, fromEnv: true } : { key, value: item.slice(eq + 1) });
    }
  });
  return result;
}

/** BuildKit addresses: `tcp://host:port`, `unix:///path`, and the other `scheme://` forms buildctl knows. */
function checkEndpoint(endpoint: string, option: string, errors: string[]): void {
  const scheme = /^([a-z][a-z0-9+-]*):\/\/(.+)$/.exec(endpoint);
  if (!scheme) {
    errors.push(`${option}: expected a BuildKit address such as tcp://builder:1234 or unix:///run/buildkit/buildkitd.sock; got ${JSON.stringify(endpoint)}`);
  } else if (scheme[1] === 'tcp' && !/^[^/:]+:\d+$|^\[[0-9a-fA-F:]+\]:\d+$/.test(scheme[2] ?? '')) {
    errors.push(`${option}: a tcp:// address needs a host and a port, as in tcp://builder:1234; got ${JSON.stringify(endpoint)}`);
  }
}

function checkTls(tls: TlsConfig | undefined, option: string, errors: string[]): void {
  for (const key of ['ca', 'cert', 'key'] as const) {
    const value = tls?.[key];
    if (value?.startsWith('env:') && !/^env:[A-Za-z_][A-Za-z0-9_]*$/.test(value)) {
      errors.push(`${option}.${key}: expected env:NAME with a variable name, or a file path; got ${JSON.stringify(value)}`);
    } else if (value === '') {
      errors.push(`${option}.${key}: expected a file path or env:NAME; got an empty string`);
    }
  }
  if (tls && (tls.cert === undefined) !== (tls.key === undefined)) {
    errors.push(`${option}: cert and key go together (a client certificate and its key)`);
  }
}

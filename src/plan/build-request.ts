import { ExporterSpec, attrValue } from '../config/exporter';
import { Attestation, Config, KeyValue, Progress } from '../config/types';
import { LocalCache, planCache } from './cache-plan';
import { jobTagRef } from '../config/image-refs';
import { ociLabels } from './oci-labels';

type Env = Record<string, string | undefined>;

/** A `K=V` whose value is known. */
export interface Pair {
  key: string;
  value: string;
}

/** Where the result goes. Image outputs (image, registry, docker) carry the refs they are named. */
export interface Output extends ExporterSpec {
  names: string[];
}

/** A build secret as BuildKit takes it: from a variable of the build's environment, or a file. */
export type RequestSecret = { id: string; env: string } | { id: string; src: string };

/** What to build, independent of the engine that builds it and of its flags. */
export interface BuildRequest {
  context: string;
  dockerfile?: string;
  target?: string;
  buildArgs: Pair[];
  secrets: RequestSecret[];
  /** SSH sockets or keys by id; no paths means the agent's SSH_AUTH_SOCK. */
  ssh: Array<{ id: string; paths: string[] }>;
  labels: Pair[];
  network?: string;
  platforms: string[];
  buildContexts: Pair[];
  annotations: Pair[];
  shmSize?: string;
  addHosts: string[];
  ulimits: string[];
  /** Every image reference the build tags, resolved once. */
  refs: string[];
  /** With `push` and `load` folded in. */
  outputs: Output[];
  /** The user listed outputs; otherwise they come from push/load alone (buildx's --push/--load). */
  explicitOutputs: boolean;
  /** Decided once: the result goes into the engine's image store. */
  loads: boolean;
  /** Decided once: the build pushes (the `push` option or a pushing output). */
  pushes: boolean;
  provenance: Attestation;
  sbom: Attestation;
  pull: boolean;
  noCache: boolean;
  /** --cache-from / --import-cache, in the order BuildKit tries them. */
  cacheImports: ExporterSpec[];
  /** --cache-to / --export-cache. */
  cacheExports: ExporterSpec[];
  /** A local cache directory, promoted after a successful build. */
  localCache?: LocalCache;
  progress: Progress;
  /** reproducible: the commit time in seconds, passed to the build as the SOURCE_DATE_EPOCH build arg. */
  sourceDateEpoch?: string;
  /**
   * reproducible: the image, registry, oci and docker outputs rewrite their layers'
   * timestamps to SOURCE_DATE_EPOCH (rewrite-timestamp=true). Off on the Docker engine's own BuildKit.
   */
  rewriteTimestamp: boolean;
  /**
   * push-by-digest: the image output pushes `repository` by digest alone. An engine that
   * cannot (buildx's docker driver) pushes the job's own tag instead.
   */
  pushByDigest?: { repository: string; jobTag: string };
  /** The job's private state dir: TLS files, the metadata file, an image tar to load. */
  stateDir: string;
  metadataFile: string;
}

export interface PlannedRequest {
  request: BuildRequest;
  notices: string[];
  /** Problems only the environment shows (the branch a cache needs, ...): the plan fails on them. */
  errors: string[];
}

const imageTypes = ['image', 'registry', 'docker'];

/**
 * `commitTime` is the time of the checkout's commit, read by the command hook for
 * `reproducible`; the environment hook runs before the checkout and plans with the clock.
 */
export function planBuildRequest(config: Config, env: Env, stateDir: string, now: Date, commitTime?: Date): PlannedRequest {
  const notices: string[] = [];
  const cache = planCache(config, env, config.push || config.outputs.some(isPushed));
  notices.push(...cache.notices);
  const sourceDate = config.reproducible ? (commitTime ?? now) : undefined;
  // The created label is the commit time when reproducible: the clock would change every digest.
  const labels = config.ociLabels ? [...ociLabels(env, sourceDate ?? now, config.labels, sourceDate !== undefined), ...config.labels] : config.labels;
  const refs = [...config.refs, ...cache.tags];
  const pushByDigest = config.pushByDigest
    ? { repository: config.pushByDigest, jobTag: jobTagRef(config.pushByDigest, env.BUILDKITE_JOB_ID || 'local') }
    : undefined;
  const outputs = pushByDigest ? [digestOutput(pushByDigest.repository)] : foldOutputs(config, refs);
  const loads = outputs.some((output) => output.type === 'docker');
  let { provenance, sbom } = config;
  if (loads) {
    // The engine's image store keeps no attestations: a loaded image gets none.
    if (provenance?.enabled || sbom?.enabled)
      notices.push('provenance/sbom: attestations are not kept when the image is loaded into the engine; building without them');
    provenance = { enabled: false };
    sbom = { enabled: false };
  }
  if (sourceDate) {
    // Provenance records when the build started and its id: an index carrying it differs every time.
    if (provenance === undefined) provenance = { enabled: false };
    else if (provenance.enabled)
      notices.push(
        "reproducible: provenance records the build's start time and id, so the index carrying it differs from build to build (the image manifest does not)",
      );
  }
  const request: BuildRequest = {
    context: config.context,
    dockerfile: config.dockerfile,
    target: config.target,
    buildArgs: pairs(config.buildArgs, env, 'build-args', notices),
    secrets: config.secrets.map((secret) =>
      'env' in secret
        ? { id: secret.id, env: secret.env }
        : { id: secret.id, src: 'file' in secret ? inCheckout(secret.file, env) : secretFile(stateDir, secret.id) },
    ),
    ssh: config.ssh.map((entry) => ({ id: entry.id, paths: entry.paths.map((path) => inCheckout(path, env)) })),
    labels: pairs(labels, env, 'labels', notices),
    network: config.network,
    platforms: config.platforms,
    buildContexts: pairs(config.buildContexts, env, 'build-contexts', notices),
    annotations: pairs(config.annotations, env, 'annotations', notices),
    shmSize: config.shmSize,
    addHosts: config.addHosts,
    ulimits: config.ulimits,
    refs,
    outputs,
    explicitOutputs: config.outputs.length > 0 || pushByDigest !== undefined,
    loads,
    pushes: outputs.some(isPushed),
    provenance,
    sbom,
    pull: config.pull,
    noCache: config.noCache,
    cacheImports: cache.imports,
    cacheExports: cache.exports,
    localCache: cache.local,
    progress: config.progress,
    sourceDateEpoch: sourceDate ? String(Math.floor(sourceDate.getTime() / 1000)) : undefined,
    rewriteTimestamp: sourceDate !== undefined,
    pushByDigest,
    stateDir,
    metadataFile: `${stateDir}/build-metadata.json`,
  };
  return { request, notices, errors: cache.errors };
}

/** A context or named context that is not a directory on the agent: an image, a URL, git, a stage. */
export const notLocalContext = /^[a-z][a-z0-9+.-]*:\/\/|^target:|^git@/;

/**
 * The request with one more name on everything it pushes (skip-unchanged's inputs tag).
 * buildx names image outputs after `--tag` when there is one, else by their `name=`.
 */
export function withPushedName(request: BuildRequest, ref: string): BuildRequest {
  const byName = request.explicitOutputs && request.refs.length === 0;
  const outputs = request.outputs.map((output) => {
    if (!isPushed(output)) return output;
    const attrs = byName ? [...output.attrs.filter((attr) => attr.key !== 'name'), { key: 'name', value: [...output.names, ref].join(',') }] : output.attrs;
    return { ...output, attrs, names: [...output.names, ref] };
  });
  return { ...request, refs: byName ? request.refs : [...request.refs, ref], outputs };
}

/** The image output of push-by-digest: the repository by name, no tag, pushed by digest. */
function digestOutput(repository: string): Output {
  const attrs = [
    { key: 'name', value: repository },
    { key: 'push-by-digest', value: 'true' },
    { key: 'name-canonical', value: 'true' },
    { key: 'push', value: 'true' },
  ];
  return { type: 'image', attrs, names: [repository] };
}

/** Exporters that write image layers, and so can rewrite their timestamps. */
const layerTypes = ['image', 'registry', 'oci', 'docker'];

/** The output with `rewrite-timestamp=true` when the request rewrites timestamps and it writes layers. */
export function withRewriteTimestamp<T extends ExporterSpec>(output: T, request: Pick<BuildRequest, 'rewriteTimestamp'>): T {
  if (!request.rewriteTimestamp || !layerTypes.includes(output.type)) return output;
  return { ...output, attrs: [...output.attrs.filter((attr) => attr.key !== 'rewrite-timestamp'), { key: 'rewrite-timestamp', value: 'true' }] };
}

export function isPushed(output: ExporterSpec): boolean {
  return output.type === 'registry' || (output.type === 'image' && attrValue(output, 'push') === 'true');
}

/**
 * With explicit outputs, `push` marks the image output (or adds a registry one) and `load`
 * adds a docker one; without, they are the outputs.
 */
function foldOutputs(config: Config, refs: string[]): Output[] {
  const named = (spec: ExporterSpec): Output => {
    const given = spec.attrs.filter((attr) => attr.key === 'name').flatMap((attr) => attr.value.split(','));
    return { ...spec, names: imageTypes.includes(spec.type) ? [...new Set([...refs, ...given])] : [] };
  };
  const outputs = config.outputs.map(named);
  if (config.push) {
    const image = outputs.find((output) => output.type === 'image' || output.type === 'registry');
    if (!image) outputs.push(named({ type: 'registry', attrs: [] }));
    else if (attrValue(image, 'push') === undefined && image.type === 'image') image.attrs = [...image.attrs, { key: 'push', value: 'true' }];
  }
  if (config.load && !outputs.some((output) => output.type === 'docker')) outputs.push(named({ type: 'docker', attrs: [] }));
  return outputs;
}

function pairs(items: KeyValue[], env: Env, option: string, notices: string[]): Pair[] {
  const result: Pair[] = [];
  for (const item of items) {
    const value = item.fromEnv ? env[item.key] : item.value;
    if (value === undefined) {
      notices.push(`${option}: ${item.key} is not set in the environment; not passed`);
      continue;
    }
    result.push({ key: item.key, value });
  }
  return result;
}

export function pairText(pair: Pair): string {
  return `${pair.key}=${pair.value}`;
}

/** Where a Buildkite secret is written for the build: the job's private state dir (0600). */
export function secretFile(stateDir: string, id: string): string {
  return `${stateDir}/secret-${id}`;
}

/** A path the user wrote, relative to the checkout (the command hook runs there). */
export function inCheckout(path: string, env: Env): string {
  const checkout = env.BUILDKITE_BUILD_CHECKOUT_PATH;
  return path.startsWith('/') || !checkout ? path : `${checkout}/${path}`;
}

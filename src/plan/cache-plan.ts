import { CacheConfig } from '../config/cache';
import { ExporterSpec, Field } from '../config/exporter';
import { imageRepository, sanitizeTag } from '../config/image-refs';
import { Config } from '../config/types';
import { existsSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

type Env = Record<string, string | undefined>;

/** The cache flags of a build: imports in the order BuildKit tries them, and exports. */
export interface CachePlan {
  imports: ExporterSpec[];
  exports: ExporterSpec[];
  local?: LocalCache;
  /** More tags for the pushed image: an inline cache's `buildcache-<branch>`. */
  tags: string[];
  notices: string[];
  errors: string[];
}

/**
 * A local cache directory shared by the jobs of a host: generations `gen-<ms>-<job>`, the
 * newest complete one named by the `current` symlink. Just before its build, a job links
 * `reading` to the generation then current and leases it (so no job prunes it meanwhile);
 * it exports to a directory of its own, which becomes current only when the build succeeds.
 */
export interface LocalCache {
  root: string;
  /** The symlink the build imports from, made when the job leases a generation. */
  reading: string;
  /** Where this job's export goes. */
  incoming: string;
  /** The lease file naming the generation `reading` links to, while the job runs. */
  lease: string;
  maxBytes: number;
}

export const currentLink = 'current';

/** The generation `current` names, if it is there and complete. */
export function currentGeneration(root: string): string | undefined {
  try {
    const target = readlinkSync(join(root, currentLink));
    return existsSync(join(root, target, 'index.json')) ? target : undefined;
  } catch {
    return undefined;
  }
}

/** Instance storage when the agent has it (Elastic CI Stack: /mnt/ephemeral), else the user's cache dir; per pipeline. */
export function defaultLocalCacheRoot(env: Env, exists: (path: string) => boolean = existsSync): string {
  const pipeline = sanitizeTag(env.BUILDKITE_PIPELINE_SLUG || 'local');
  if (exists('/mnt/ephemeral')) return `/mnt/ephemeral/buildkite-plugin-buildkit/cache/${pipeline}`;
  const base = env.XDG_CACHE_HOME || `${env.HOME || '/tmp'}/.cache`;
  return `${base}/buildkite-plugin-buildkit/${pipeline}`;
}

/** `git@github.com:org/app.git`, `https://github.com/org/app` → `github.com/org/app`, to compare repositories. */
function repositoryKey(url: string): string {
  return url
    .trim()
    .toLowerCase()
    .replace(/^[a-z+]+:\/\//, '')
    .replace(/^[^@/]+@/, '')
    .replace(/:(?!\d+\/)/, '/')
    .replace(/\.git$/, '')
    .replace(/\/+$/, '');
}

/** A pull request from another repository: its branch may read the cache, never write it. */
export function isForkPullRequest(env: Env): boolean {
  const pr = env.BUILDKITE_PULL_REQUEST;
  const from = env.BUILDKITE_PULL_REQUEST_REPO;
  if (!pr || pr === 'false' || !from) return false;
  return repositoryKey(from) !== repositoryKey(env.BUILDKITE_REPO ?? '');
}

/** The branches whose cache a build reads, its own first: the pull request's base, then the default branch. */
function cacheBranches(env: Env): string[] {
  const own = env.BUILDKITE_BRANCH || 'local';
  const pr = env.BUILDKITE_PULL_REQUEST;
  const base = pr && pr !== 'false' ? env.BUILDKITE_PULL_REQUEST_BASE_BRANCH : undefined;
  return [...new Set([own, base, env.BUILDKITE_PIPELINE_DEFAULT_BRANCH].filter((b): b is string => !!b))];
}

const cacheTag = (branch: string) => `buildcache-${sanitizeTag(branch)}`.slice(0, 128);
const spec = (type: string, fields: Array<[string, string | undefined]>): ExporterSpec => ({
  type,
  attrs: fields.filter((f): f is [string, string] => f[1] !== undefined).map(([key, value]): Field => ({ key, value })),
});

/** The cache of a build: `cache` planned per branch, then the raw `cache-from` / `cache-to`. */
export function planCache(config: Config, env: Env, pushes: boolean): CachePlan {
  const plan: CachePlan = { imports: [], exports: [], tags: [], notices: [], errors: [] };
  const { cache } = config;
  if (cache && cache.type !== 'none') {
    const fork = isForkPullRequest(env);
    if (cache.type === 'registry') registryCache(cache, config.refs, env, fork, plan);
    else if (cache.type === 'local') localCache(cache, env, fork, plan);
    else if (cache.type === 's3') s3Cache(cache, env, fork, plan);
    else inlineCache(config.refs, pushes, env, fork, plan);
    if (fork) plan.notices.push('cache: a pull request from a fork reads the cache but never writes it');
    plan.imports.push(...cache.from);
  }
  plan.imports.push(...config.cacheFrom);
  plan.exports.push(...config.cacheTo);
  return plan;
}

function registryCache(cache: CacheConfig, refs: string[], env: Env, fork: boolean, plan: CachePlan): void {
  const repository = cache.repository ?? (refs[0] ? imageRepository(refs[0]) : undefined);
  if (!cache.ref && !repository) {
    plan.errors.push('cache: a registry cache lives next to the image: set image, or cache.repository (or cache.ref)');
    return;
  }
  const cacheRefs = cache.ref ? [cache.ref] : branchRefs(repository as string, env);
  plan.imports.push(...cacheRefs.map((ref) => spec('registry', [['ref', ref]])));
  if (fork) return;
  // ECR takes only image manifests in OCI media types as cache.
  plan.exports.push(spec('registry', [['ref', cacheRefs[0] as string], ['image-manifest', 'true'], ['oci-mediatypes', 'true'], ...exportFields(cache)]));
}

/** `<repository>:buildcache-<branch>` for each branch a build reads, its own first. */
function branchRefs(repository: string, env: Env): string[] {
  return cacheBranches(env).map((branch) => `${repository}:${cacheTag(branch)}`);
}

/**
 * What every export of `cache` carries. zstd: a mode=max export made a cold build 10% slower,
 * against 15% with BuildKit's default gzip (scripts/bench-cache.mjs, medians of 3). ignore-error:
 * a failed export is a warning, never a failed build.
 */
function exportFields(cache: CacheConfig): Array<[string, string]> {
  return [
    ['mode', cache.mode],
    ['compression', 'zstd'],
    ['ignore-error', 'true'],
  ];
}

function localCache(cache: CacheConfig, env: Env, fork: boolean, plan: CachePlan): void {
  const root = cache.path ?? defaultLocalCacheRoot(env);
  const job = sanitizeTag(env.BUILDKITE_JOB_ID || 'local');
  const local: LocalCache = {
    root,
    reading: join(root, `.reading-${job}`),
    incoming: join(root, `.incoming-${job}`),
    lease: join(root, 'leases', job),
    maxBytes: cache.maxBytes,
  };
  // Which generation is read is decided when the job leases it; until then, only whether there is one.
  if (currentGeneration(root)) plan.imports.push(spec('local', [['src', local.reading]]));
  else plan.notices.push(`cache: no local cache in ${root} yet; this build starts it`);
  if (!fork) plan.exports.push(spec('local', [['dest', local.incoming], ...exportFields(cache)]));
  plan.local = local;
}

function s3Cache(cache: CacheConfig, env: Env, fork: boolean, plan: CachePlan): void {
  const region = cache.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const where: Array<[string, string | undefined]> = [
    ['bucket', cache.bucket],
    ['region', region],
    ['prefix', cache.prefix ?? `${env.BUILDKITE_PIPELINE_SLUG || 'local'}/`],
    ['endpoint_url', cache.endpointUrl],
    ['use_path_style', cache.usePathStyle ? 'true' : undefined],
  ];
  if (!region) plan.errors.push('cache.region: an s3 cache needs its region (cache.region, or AWS_REGION in the environment)');
  const names = cacheBranches(env).map(sanitizeTag);
  // BuildKit's s3 importer reads only the first of `;`-separated names: one import per branch.
  plan.imports.push(...names.map((name) => spec('s3', [...where, ['name', name]])));
  if (!fork) plan.exports.push(spec('s3', [...where, ['name', names[0]], ...exportFields(cache)]));
}

/** Inline cache travels in the pushed image: the image is also tagged buildcache-<branch>, and imported by those tags. */
function inlineCache(refs: string[], pushes: boolean, env: Env, fork: boolean, plan: CachePlan): void {
  if (refs.length === 0 || !pushes) {
    plan.errors.push('cache: type: inline keeps the cache in the pushed image: set image and push: true');
    return;
  }
  const cacheRefs = branchRefs(imageRepository(refs[0] as string), env);
  plan.imports.push(...cacheRefs.map((ref) => spec('registry', [['ref', ref]])));
  if (fork) return;
  plan.exports.push(spec('inline', []));
  plan.tags.push(cacheRefs[0] as string);
}

import { ExporterSpec, SpecGrammar, parseSpecs } from './exporter';
import { lines } from './list';
import { sizeBytes } from './size';

type Raw = Record<string, unknown>;

export type CacheType = 'registry' | 'local' | 's3' | 'inline' | 'none';

/** `cache:`: where the build cache lives between jobs. `cache: true` is the registry, mode=max. */
export interface CacheConfig {
  type: CacheType;
  /** The exact ref to export to and import first, instead of `<repository>:buildcache-<branch>`. */
  ref?: string;
  /** Where the buildcache-<branch> tags go (default: the image's repository). */
  repository?: string;
  mode: 'min' | 'max';
  /** type: local: the cache directory on the agent (default: instance storage, else the user's cache dir). */
  path?: string;
  /** type: local: a new generation larger than this is not kept. */
  maxBytes: number;
  bucket?: string;
  region?: string;
  prefix?: string;
  endpointUrl?: string;
  usePathStyle: boolean;
  /** More caches to import from, after the branch's own. */
  from: ExporterSpec[];
}

const defaultMaxBytes = 10 * 1024 ** 3;

function maxBytes(value: unknown, errors: string[]): number {
  if (value === undefined) return defaultMaxBytes;
  const bytes = sizeBytes(String(value));
  if (bytes === undefined || bytes === 0) {
    errors.push(`cache.max-size: expected a size such as 5g or 500m; got ${JSON.stringify(value)}`);
    return defaultMaxBytes;
  }
  return bytes;
}

/** BuildKit's cache backends. */
const cacheBackends = ['registry', 'local', 'inline', 's3', 'gha', 'azblob'];

/** `--cache-from` / `--cache-to` as buildx reads them: a ref alone is a registry cache. */
const cacheGrammar: SpecGrammar = {
  bare: (ref) => ({ type: 'registry', attrs: [{ key: 'ref', value: ref }] }),
  types: cacheBackends,
  expected: cacheBackends.join(', '),
};

/** Raw `cache-from` / `cache-to` entries, one spec per line. */
export function cacheSpecs(value: unknown, option: string, errors: string[]): ExporterSpec[] {
  return parseSpecs(lines(value), option, cacheGrammar, errors);
}

export function cacheSettings(value: unknown, errors: string[]): CacheConfig | undefined {
  if (value === undefined || value === false) return undefined;
  const raw: Raw = value === true ? {} : (value as Raw);
  const type = (raw.type ?? (raw.bucket !== undefined ? 's3' : 'registry')) as CacheType;
  const settings: CacheConfig = {
    type,
    ref: raw.ref as string | undefined,
    repository: raw.repository as string | undefined,
    mode: (raw.mode ?? 'max') as 'min' | 'max',
    path: raw.path as string | undefined,
    maxBytes: maxBytes(raw['max-size'], errors),
    bucket: raw.bucket as string | undefined,
    region: raw.region as string | undefined,
    prefix: raw.prefix as string | undefined,
    endpointUrl: raw['endpoint-url'] as string | undefined,
    usePathStyle: raw['use-path-style'] === true,
    from: cacheSpecs(raw.from, 'cache.from', errors),
  };
  const s3Only = ['bucket', 'region', 'prefix', 'endpoint-url', 'use-path-style'].filter((key) => raw[key] !== undefined);
  if (type !== 's3' && s3Only.length > 0) errors.push(`cache.${s3Only[0]}: applies to type: s3 (the cache is type: ${type})`);
  const localOnly = ['path', 'max-size'].filter((key) => raw[key] !== undefined);
  if (type !== 'local' && localOnly.length > 0) errors.push(`cache.${localOnly[0]}: applies to type: local (the cache is type: ${type})`);
  if (type === 's3' && !settings.bucket) errors.push('cache.bucket: type: s3 needs the bucket to keep the cache in');
  if (type !== 'registry' && (raw.ref !== undefined || raw.repository !== undefined)) {
    errors.push(`cache.${raw.ref !== undefined ? 'ref' : 'repository'}: applies to type: registry (the cache is type: ${type})`);
  }
  if (raw.ref !== undefined && raw.repository !== undefined)
    errors.push('cache.ref: give ref (one exact cache ref) or repository (a tag per branch), not both');
  if (settings.repository !== undefined && /@|:[^/]*$/.test(settings.repository)) {
    errors.push(
      `cache.repository: expected a repository without a tag or digest (the plugin adds buildcache-<branch>); got ${JSON.stringify(settings.repository)}`,
    );
  }
  if (settings.path !== undefined && !settings.path.startsWith('/')) {
    errors.push(
      `cache.path: expected an absolute path on the agent, outside the checkout (the cache is shared by the jobs of the host); got ${JSON.stringify(settings.path)}`,
    );
  }
  if (type === 'none' && settings.from.length > 0) errors.push('cache.from: type: none imports nothing; use cache-from for imports alone');
  if (type === 'inline' && raw.mode === 'max') errors.push('cache.mode: inline cache holds only the final image (mode=min); use type: registry for mode=max');
  return settings;
}

import { BuildRequest } from '../plan/build-request';
import { BuildProgress } from '../report/build-progress';
import { immutableTagRefusal } from '../engines/registry-hints';
import { log } from './log';

/** What the build's progress tells about its cache: hits, a note per failed import, a warning per failed export or discarded local cache. */
export function cacheReport(
  request: BuildRequest,
  progress: BuildProgress,
  localWarnings: string[],
): { hits?: { cached: number; total: number }; warnings: string[] } {
  if (request.cacheImports.length === 0 && request.cacheExports.length === 0) return { warnings: [] };
  const hits = progress.cacheHits();
  if (hits.total > 0) log.info(`buildkit: cache: ${hits.cached} of ${hits.total} build steps cached`);
  progress.failedImports().forEach((failure) => log.info(`buildkit: cache: nothing imported (${failure})`));
  const exports = progress.failedExports().map((failure) => `cache: the cache was not saved, the build goes on (${failure})${immutableCacheHint(failure)}`);
  const warnings = [...exports, ...localWarnings];
  warnings.forEach((warning) => log.warn(warning));
  return { hits: hits.total > 0 ? hits : undefined, warnings };
}

function immutableCacheHint(failure: string): string {
  return immutableTagRefusal.test(failure)
    ? '. The ECR repository has immutable tags, so buildcache-<branch> cannot be updated: put the cache in a repository with mutable tags (cache.repository)'
    : '';
}

import { createHash } from 'node:crypto';

/**
 * Rendezvous (highest random weight) hashing: the same key always ranks the endpoints in
 * the same order, so a pipeline goes back to the builder that holds its cache, and losing
 * one builder moves only the pipelines that were on it.
 */
export function rankEndpoints(endpoints: string[], key: string): string[] {
  const weight = (endpoint: string) => createHash('sha256').update(`${key}\0${endpoint}`).digest().readBigUInt64BE(0);
  return [...new Set(endpoints)]
    .map((endpoint) => ({ endpoint, weight: weight(endpoint) }))
    .sort((a, b) => (a.weight === b.weight ? 0 : a.weight > b.weight ? -1 : 1))
    .map((ranked) => ranked.endpoint);
}

/** What routes a job: `builder.route-key`, else the pipeline. */
export function routeKey(routeKeyOption: string | undefined, env: Record<string, string | undefined>): string {
  return routeKeyOption ?? env.BUILDKITE_PIPELINE_SLUG ?? 'local';
}

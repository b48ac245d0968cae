import { AgentClient } from '../agent/buildkite-agent';
import { formatFields } from '../config/exporter';
import { Config } from '../config/types';
import { BuildRequest } from '../plan/build-request';
import { buildAnnotation } from './annotation';
import { BuildResult } from './build-metadata';
import { annotationContext, metaDataKeys } from './meta-data-keys';

export interface BuildReport {
  config: Config;
  request: BuildRequest;
  env: Record<string, string | undefined>;
  result: BuildResult;
  refs: string[];
  seconds: number;
  /** The remote builder that built. */
  builtOn?: string;
  warnings: string[];
  /** Build steps served from the cache, when the build imports one. */
  cacheHits?: { cached: number; total: number };
  /** With skip-unchanged: whether an image of the same inputs was reused, and which. */
  reuse?: Reuse;
  /** A promote step: the image that was given the refs. */
  promotedFrom?: string;
  /** `artifacts: true`: links to what was uploaded. */
  artifacts?: string;
}

export interface Reuse {
  reused: boolean;
  /** The inputs tag. */
  ref: string;
  /** The build that made the reused image, as its labels tell. */
  since?: string;
  /** Why it was built instead, for the annotation. */
  why?: string;
}

/** Meta-data and the annotation of a successful build. */
export async function reportBuild(report: BuildReport, agent: AgentClient): Promise<void> {
  const { config, env, result, refs } = report;
  // Each call is a round trip to Buildkite: made side by side.
  const calls: Promise<void>[] = [];
  if (config.metaData) {
    const keys = metaDataKeys(env);
    if (result.digest) calls.push(agent.setMetaData(keys.digest, result.digest));
    if (refs.length > 0) calls.push(agent.setMetaData(keys.refs, refs.join(' ')));
    if (report.builtOn) calls.push(agent.setMetaData(keys.builder, report.builtOn));
    if (report.cacheHits) calls.push(agent.setMetaData(keys.cacheHits, `${report.cacheHits.cached}/${report.cacheHits.total}`));
    if (report.reuse) calls.push(agent.setMetaData(keys.reused, String(report.reuse.reused)));
    for (const [target, outcome] of Object.entries(result.targets)) {
      const targetKeys = metaDataKeys(env, target);
      if (outcome.digest) calls.push(agent.setMetaData(targetKeys.digest, outcome.digest));
      if (outcome.refs.length > 0) calls.push(agent.setMetaData(targetKeys.refs, outcome.refs.join(' ')));
    }
  }
  if (config.annotate) {
    const body = buildAnnotation({
      label: env.BUILDKITE_LABEL,
      refs,
      pushed: report.request.pushes,
      digest: result.digest,
      seconds: report.seconds,
      builder: report.builtOn,
      platforms: config.bake ? [] : report.request.platforms,
      attestations: attestations(report.request, result),
      targets: config.bake ? result.targets : undefined,
      cacheHits: report.cacheHits,
      reuse: report.reuse,
      promotedFrom: report.promotedFrom,
      artifacts: report.artifacts,
      warnings: report.warnings,
    });
    calls.push(agent.annotate(body, 'success', annotationContext(env)));
  }
  await Promise.all(calls);
}

/** What was attested, as far as the result shows: none unless an index was pushed. */
function attestations(request: BuildRequest, result: BuildResult): string[] {
  if (!request.pushes || request.loads || result.isIndex === false) return [];
  const list: string[] = [];
  const { provenance, sbom } = request;
  if (provenance?.enabled !== false)
    list.push(`provenance (${provenance?.enabled && provenance.attrs.length > 0 ? formatFields(provenance.attrs) : 'mode=min'})`);
  if (sbom?.enabled) list.push('sbom');
  return list;
}

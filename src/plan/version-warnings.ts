import coerce from 'semver/functions/coerce';
import gte from 'semver/functions/gte';
import valid from 'semver/functions/valid';
import { BuildRequest } from './build-request';
import { kubernetesDriverOpts } from '../config/kubernetes-driver-opts';
import { Config } from '../config/types';
import { gates } from './version-gates';

interface Versions {
  buildx?: string;
  /** Unknown when the engine reports none (distribution builds say v0.0.0+unknown). */
  buildkit?: string;
}

export function versionWarnings(request: BuildRequest, versions: Versions): string[] {
  return gates
    .filter((gate) => gate.applies(request))
    .flatMap((gate) => {
      const version = gate.component === 'buildx' ? versions.buildx : versions.buildkit;
      if (!version || versionSatisfies(version, gate.minimum)) return [];
      return [`${gate.option} needs ${gate.component} >= ${gate.minimum}; this agent has ${version}`];
    });
}

/**
 * Errors, not warnings: the kubernetes driver's options newer than the agent's buildx, which
 * `buildx create` would refuse as unknown.
 */
export function driverOptionErrors(config: Config, buildxVersion: string | undefined): string[] {
  if (config.builder.driver !== 'kubernetes' || !buildxVersion) return [];
  const opts = [...config.builder.driverOpts, ...config.builder.nodes.flatMap((node) => node.driverOpts)];
  return [...new Set(opts.map((opt) => opt.split('=')[0] ?? ''))].flatMap((key) => {
    const since = kubernetesDriverOpts[key]?.since;
    return since && !versionSatisfies(buildxVersion, since) ? [`builder.driver-opts: ${key} needs buildx >= ${since}; this agent has ${buildxVersion}`] : [];
  });
}

/** Semantic versions, pre-releases included (`0.13.0-rc1` < `0.13.0`); a version that is not one is trusted. */
export function versionSatisfies(version: string, minimum: string): boolean {
  const parsed = valid(version) ?? coerce(version)?.version;
  return parsed ? gte(parsed, minimum) : true;
}

/** `BuildKit version: v0.13.2` in `docker buildx inspect` output; v0.0.0 means unknown. */
export function parseBuildkitVersion(output: string): string | undefined {
  const version = /BuildKit(?: version)?:\s*v?(\d+\.\d+\.\d+\S*)/i.exec(output)?.[1];
  return version && !version.startsWith('0.0.0') ? version : undefined;
}

/**
 * The first version in a tool's output: `github.com/docker/buildx v0.13.1 <commit>`,
 * `buildctl github.com/moby/buildkit v0.13.2 <commit>`, `BuildKit: ... v0.13.2 ...`.
 */
export function parseVersion(output: string): string | undefined {
  return /\bv?(\d+\.\d+\.\d+\S*)/.exec(output)?.[1];
}

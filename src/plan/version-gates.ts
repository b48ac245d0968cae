import { Config } from '../config/types';

/** Options that need a newer buildx than the agent may have: a warning, not a failure. */
const gates: Array<{ option: string; minimum: string; applies: (config: Config) => boolean }> = [
  { option: 'build-contexts', minimum: '0.8.0', applies: (c) => c.buildContexts.length > 0 },
  { option: 'provenance/sbom', minimum: '0.10.0', applies: (c) => c.provenance !== undefined || c.sbom !== undefined },
  { option: 'annotations', minimum: '0.12.0', applies: (c) => c.annotations.length > 0 },
  { option: 'outputs (several)', minimum: '0.13.0', applies: (c) => c.outputs.length + (c.push ? 1 : 0) + (c.load ? 1 : 0) > 1 && c.outputs.length > 0 },
];

export function versionWarnings(config: Config, buildxVersion: string | undefined): string[] {
  if (!buildxVersion) return [];
  return gates
    .filter((gate) => gate.applies(config) && !versionSatisfies(buildxVersion, gate.minimum))
    .map((gate) => `${gate.option} needs buildx >= ${gate.minimum}; this agent has ${buildxVersion}`);
}

/** `0.13.1+ds1` >= `0.13.0`: numeric comparison of the first three parts. */
export function versionSatisfies(version: string, minimum: string): boolean {
  const parts = (v: string) => (/(\d+)\.(\d+)\.(\d+)/.exec(v) ?? [0, 0, 0, 0]).slice(1).map(Number);
  const [a, b] = [parts(version), parts(minimum)];
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return true;
}

/** The version in `docker buildx version` output: `github.com/docker/buildx v0.13.1 <commit>`. */
export function parseBuildxVersion(output: string): string | undefined {
  return /\bv?(\d+\.\d+\.\d+\S*)/.exec(output)?.[1];
}

import { Config } from '../config/types';

type Component = 'buildx' | 'BuildKit';

const severalOutputs = (c: Config) => c.outputs.length > 0 && c.outputs.length + (c.push ? 1 : 0) + (c.load ? 1 : 0) > 1;

/** Options that need a newer buildx or BuildKit than the agent may have: a warning, not a failure. */
const gates: Array<{ option: string; component: Component; minimum: string; applies: (config: Config) => boolean }> = [
  { option: 'build-contexts', component: 'buildx', minimum: '0.8.0', applies: (c) => c.buildContexts.length > 0 },
  { option: 'provenance/sbom', component: 'buildx', minimum: '0.10.0', applies: (c) => c.provenance !== undefined || c.sbom !== undefined },
  { option: 'annotations', component: 'buildx', minimum: '0.12.0', applies: (c) => c.annotations.length > 0 },
  { option: 'outputs (several)', component: 'buildx', minimum: '0.13.0', applies: severalOutputs },
  { option: 'outputs (several)', component: 'BuildKit', minimum: '0.13.0', applies: severalOutputs },
  { option: 'annotations', component: 'BuildKit', minimum: '0.11.0', applies: (c) => c.annotations.length > 0 },
];

interface Versions {
  buildx?: string;
  /** Unknown when the engine reports none (distribution builds say v0.0.0+unknown). */
  buildkit?: string;
}

/** Whether any option in use is gated on that component's version (worth a probe). */
export function versionMatters(config: Config, component: Component): boolean {
  return gates.some((gate) => gate.component === component && gate.applies(config));
}

export function versionWarnings(config: Config, versions: Versions): string[] {
  return gates
    .filter((gate) => gate.applies(config))
    .flatMap((gate) => {
      const version = gate.component === 'buildx' ? versions.buildx : versions.buildkit;
      if (!version || versionSatisfies(version, gate.minimum)) return [];
      return [`${gate.option} needs ${gate.component} >= ${gate.minimum}; this agent has ${version}`];
    });
}

/** `0.13.1+ds1` >= `0.13.0`: numeric comparison of the first three parts. */
export function versionSatisfies(version: string, minimum: string): boolean {
  const parts = (v: string) => (/(\d+)\.(\d+)\.(\d+)/.exec(v) ?? [0, 0, 0, 0]).slice(1).map(Number);
  const [a, b] = [parts(version), parts(minimum)];
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return true;
}

/** `BuildKit version: v0.13.2` in `docker buildx inspect` output; v0.0.0 means unknown. */
export function parseBuildkitVersion(output: string): string | undefined {
  const version = /BuildKit(?: version)?:\s*v?(\d+\.\d+\.\d+\S*)/i.exec(output)?.[1];
  return version && !version.startsWith('0.0.0') ? version : undefined;
}

/** The version in `docker buildx version` output: `github.com/docker/buildx v0.13.1 <commit>`. */
export function parseBuildxVersion(output: string): string | undefined {
  return /\bv?(\d+\.\d+\.\d+\S*)/.exec(output)?.[1];
}

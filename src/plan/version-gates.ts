import { BuildRequest } from './build-request';

export type Component = 'buildx' | 'BuildKit';

// reproducible spells --push and --load out as outputs (to add rewrite-timestamp).
const severalOutputs = (r: BuildRequest) => (r.explicitOutputs || r.rewriteTimestamp) && r.outputs.length > 1;

/** Options that need a newer buildx or BuildKit than the agent may have: a warning, not a failure. */
export const gates: Array<{ option: string; component: Component; minimum: string; applies: (request: BuildRequest) => boolean }> = [
  { option: 'build-contexts', component: 'buildx', minimum: '0.8.0', applies: (r) => r.buildContexts.length > 0 },
  { option: 'provenance/sbom', component: 'buildx', minimum: '0.10.0', applies: (r) => r.provenance !== undefined || r.sbom !== undefined },
  { option: 'annotations', component: 'buildx', minimum: '0.12.0', applies: (r) => r.annotations.length > 0 },
  { option: 'outputs (several)', component: 'buildx', minimum: '0.13.0', applies: severalOutputs },
  { option: 'outputs (several)', component: 'BuildKit', minimum: '0.13.0', applies: severalOutputs },
  { option: 'annotations', component: 'BuildKit', minimum: '0.11.0', applies: (r) => r.annotations.length > 0 },
  { option: 'reproducible (rewrite-timestamp)', component: 'BuildKit', minimum: '0.13.0', applies: (r) => r.rewriteTimestamp },
];

/** Whether any option in use is gated on that component's version (worth a probe). */
export function versionMatters(request: BuildRequest, component: Component): boolean {
  return gates.some((gate) => gate.component === component && gate.applies(request));
}

import { Attestation, Config, KeyValue, Progress } from '../config/types';
import { csvField } from './csv';
import { resolveImageRefs } from './image-refs';
import { ociLabels } from './oci-labels';

type Env = Record<string, string | undefined>;

/** What to build, independent of the engine that builds it. */
export interface BuildRequest {
  context: string;
  dockerfile?: string;
  target?: string;
  buildArgs: string[];
  labels: string[];
  network?: string;
  refs: string[];
  platforms: string[];
  /** Exporter specs; when set, push and load are folded into them. */
  outputs: string[];
  push: boolean;
  load: boolean;
  pull: boolean;
  noCache: boolean;
  progress: Progress;
  buildContexts: string[];
  annotations: string[];
  shmSize?: string;
  addHosts: string[];
  ulimits: string[];
  provenance: Attestation;
  sbom: Attestation;
  metadataFile: string;
}

export interface PlannedRequest {
  request: BuildRequest;
  notices: string[];
}

export function planBuildRequest(config: Config, env: Env, stateDir: string, now: Date): PlannedRequest {
  const notices: string[] = [];
  const images = resolveImageRefs(config.image, config.tags);
  notices.push(...images.notices);
  const labels = config.ociLabels ? [...ociLabels(env, now, config.labels), ...config.labels] : config.labels;
  const loads = config.load || config.outputs.some((spec) => csvField(spec, 'type') === 'docker');
  let { provenance, sbom } = config;
  if (loads) {
    // The engine's image store keeps no attestations: a loaded image gets none.
    if (provenance || sbom) notices.push('provenance/sbom: attestations are not kept when the image is loaded into the engine; building without them');
    provenance = false;
    sbom = false;
  }
  const request: BuildRequest = {
    context: config.context,
    dockerfile: config.dockerfile,
    target: config.target,
    buildArgs: pairs(config.buildArgs, env, 'build-args', notices),
    labels: pairs(labels, env, 'labels', notices),
    network: config.network,
    refs: images.refs,
    platforms: config.platforms,
    outputs: foldOutputs(config.outputs, config.push, config.load),
    push: config.push,
    load: config.load,
    pull: config.pull,
    noCache: config.noCache,
    progress: config.progress,
    buildContexts: pairs(config.buildContexts, env, 'build-contexts', notices),
    annotations: pairs(config.annotations, env, 'annotations', notices),
    shmSize: config.shmSize,
    addHosts: config.addHosts,
    ulimits: config.ulimits,
    provenance,
    sbom,
    metadataFile: `${stateDir}/build-metadata.json`,
  };
  return { request, notices };
}

/** Whether the build pushes: `push`, or an output that is a registry or a pushed image. */
export function pushes(request: Pick<BuildRequest, 'push' | 'outputs'>): boolean {
  return (
    request.push ||
    request.outputs.some((spec) => csvField(spec, 'type') === 'registry' || (csvField(spec, 'type') === 'image' && csvField(spec, 'push') === 'true'))
  );
}

/**
 * With explicit outputs, `push` marks the image output (or adds a registry one) and `load`
 * adds a docker one, so the outputs say everything and no --push/--load flag is needed.
 */
export function foldOutputs(outputs: string[], push: boolean, load: boolean): string[] {
  if (outputs.length === 0) return [];
  const result = [...outputs];
  if (push) {
    const image = result.findIndex((spec) => ['image', 'registry'].includes(csvField(spec, 'type') ?? ''));
    if (image === -1) result.push('type=registry');
    else if (csvField(result[image], 'push') === undefined) result[image] = `${result[image]},push=true`;
  }
  if (load && !result.some((spec) => csvField(spec, 'type') === 'docker')) result.push('type=docker');
  return result;
}

function pairs(items: KeyValue[], env: Env, option: string, notices: string[]): string[] {
  const result: string[] = [];
  for (const item of items) {
    const value = item.fromEnv ? env[item.key] : item.value;
    if (value === undefined) {
      notices.push(`${option}: ${item.key} is not set in the environment; not passed`);
      continue;
    }
    result.push(`${item.key}=${value}`);
  }
  return result;
}

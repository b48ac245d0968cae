import { Config, KeyValue, Progress } from '../config/types';
import { resolveImageRefs } from './image-refs';

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
  push: boolean;
  noCache: boolean;
  progress: Progress;
  metadataFile: string;
}

export interface PlannedRequest {
  request: BuildRequest;
  notices: string[];
}

export function planBuildRequest(config: Config, env: Env, stateDir: string): PlannedRequest {
  const notices: string[] = [];
  const images = resolveImageRefs(config.image, config.tags);
  notices.push(...images.notices);
  const request: BuildRequest = {
    context: config.context,
    dockerfile: config.dockerfile,
    target: config.target,
    buildArgs: pairs(config.buildArgs, env, 'build-args', notices),
    labels: pairs(config.labels, env, 'labels', notices),
    network: config.network,
    refs: images.refs,
    push: config.push,
    noCache: config.noCache,
    progress: config.progress,
    metadataFile: `${stateDir}/build-metadata.json`,
  };
  return { request, notices };
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

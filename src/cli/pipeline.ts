import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { pluginEnvName } from '../config/plugin-name';

export interface PipelineStep {
  key?: string;
  label?: string;
  command?: string | string[];
  commands?: string[];
  env?: Record<string, unknown>;
  plugins?: Array<string | Record<string, unknown>>;
}

export interface SelectedStep {
  step: PipelineStep;
  pipelineEnv: Record<string, string>;
  pluginKey: string;
  /** As written: the agent refuses anything but a map or null (see plugin-env.ts). */
  pluginConfig: unknown;
}

/** Finds a command step (by key or label, else the first) that uses the buildkit plugin. */
export function selectStep(pipelineFile: string, wanted?: string): SelectedStep {
  const doc = YAML.parse(readFileSync(pipelineFile, 'utf8')) as { steps?: PipelineStep[]; env?: Record<string, unknown> } | PipelineStep[];
  const steps = Array.isArray(doc) ? doc : (doc.steps ?? []);
  const pipelineEnv = Array.isArray(doc) ? {} : stringMap(doc.env);
  for (const step of steps) {
    if (wanted !== undefined && step.key !== wanted && step.label !== wanted) continue;
    for (const entry of step.plugins ?? []) {
      const [pluginKey, config] = typeof entry === 'string' ? [entry, {}] : (Object.entries(entry)[0] ?? ['', {}]);
      if (pluginEnvName(pluginKey) === 'BUILDKIT') {
        return { step, pipelineEnv, pluginKey, pluginConfig: config ?? {} };
      }
    }
  }
  throw new Error(`${pipelineFile}: no step${wanted ? ` with key or label ${JSON.stringify(wanted)}` : ''} uses the buildkit plugin`);
}

export function stepCommand(step: PipelineStep): string {
  const command = step.commands ?? step.command ?? '';
  return Array.isArray(command) ? command.join('\n') : command;
}

export function stringMap(value: Record<string, unknown> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(value ?? {}).map(([k, v]) => [k, String(v)]));
}

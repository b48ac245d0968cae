import { Config, KeyValue, Progress } from './types';

type Raw = Record<string, unknown>;

/** Turns validated, defaulted raw options into a Config; returns problems ajv cannot see. */
export function normalizeConfig(raw: Raw): { config: Config; errors: string[] } {
  const errors: string[] = [];
  const config: Config = {
    context: raw.context as string,
    dockerfile: raw.dockerfile as string | undefined,
    target: raw.target as string | undefined,
    buildArgs: keyValues(raw['build-args'], 'build-args', true, errors),
    labels: keyValues(raw.labels, 'labels', false, errors),
    network: raw.network as string | undefined,
    image: raw.image as string | undefined,
    tags: list(raw.tags),
    push: raw.push as boolean,
    noCache: raw['no-cache'] as boolean,
    progress: raw.progress as Progress,
    annotate: raw.annotate as boolean,
    metaData: raw['meta-data'] as boolean,
    dryRun: raw['dry-run'] as boolean,
  };
  return { config, errors };
}

/** A string-or-list option as a list; a comma string is split, as build-push-action does. */
export function list(value: unknown): string[] {
  if (value === undefined) return [];
  const items = Array.isArray(value) ? value.map(String) : String(value).split(/[,\n]/);
  return items.map((item) => item.trim()).filter((item) => item !== '');
}

function keyValues(value: unknown, option: string, allowBareKey: boolean, errors: string[]): KeyValue[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    return Object.entries(value as Record<string, unknown>).map(([key, v]) => ({ key, value: String(v) }));
  }
  const result: KeyValue[] = [];
  value.forEach((item: string, index) => {
    const eq = item.indexOf('=');
    const key = eq === -1 ? item : item.slice(0, eq);
    if (key.trim() === '' || /\s/.test(key)) {
      errors.push(`${option}[${index}]: expected KEY=VALUE${allowBareKey ? ' or KEY' : ''} with a non-empty key without spaces; got ${JSON.stringify(item)}`);
    } else if (eq === -1 && !allowBareKey) {
      errors.push(`${option}[${index}]: expected KEY=VALUE; got ${JSON.stringify(item)}`);
    } else {
      result.push(eq === -1 ? { key, fromEnv: true } : { key, value: item.slice(eq + 1) });
    }
  });
  return result;
}

import { readFileSync } from 'node:fs';

export interface TargetResult {
  digest?: string;
  refs: string[];
}

export interface BuildResult {
  digest?: string;
  /** The pushed or exported root is an index (attestations need one; the classic store makes none). */
  isIndex?: boolean;
  /** For bake: each target's result, by target name. */
  targets: Record<string, TargetResult>;
}

/**
 * Reads the file written by `--metadata-file`: one build's keys at the top level, or (bake)
 * one object per target. A missing or partial file yields nothing.
 *
 * buildx (0.13) writes bake's targets sorted by name, so `targets` lists the names in
 * `targetOrder` (bake.targets) first, in that order, then any others (members of a group) by
 * name; `digest` is the first of them that has one.
 */
export function readBuildMetadata(path: string, targetOrder: string[] = []): BuildResult {
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return { targets: {} };
  }
  if ('containerimage.digest' in data || 'buildx.build.ref' in data) {
    const mediaType = (data['containerimage.descriptor'] as { mediaType?: string } | undefined)?.mediaType ?? '';
    return { digest: targetResult(data).digest, isIndex: /index|manifest\.list/.test(mediaType), targets: {} };
  }
  const rank = (name: string) => (targetOrder.includes(name) ? targetOrder.indexOf(name) : targetOrder.length);
  const names = Object.keys(data)
    // Only target objects: not `buildx.build.*` entries such as newer buildx's warnings list.
    .filter((name) => isRecord(data[name]) && !name.startsWith('buildx.'))
    .sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  const targets: Record<string, TargetResult> = {};
  for (const name of names) targets[name] = targetResult(data[name] as Record<string, unknown>);
  return { digest: Object.values(targets).find((t) => t.digest)?.digest, targets };
}

function targetResult(data: Record<string, unknown>): TargetResult {
  const digest = data['containerimage.digest'];
  const names = data['image.name'];
  return {
    digest: typeof digest === 'string' ? digest : undefined,
    refs: typeof names === 'string' ? names.split(',').filter(Boolean) : [],
  };
}

function isRecord(value: unknown): boolean {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

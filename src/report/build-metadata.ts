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
 */
export function readBuildMetadata(path: string): BuildResult {
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
  const targets: Record<string, TargetResult> = {};
  for (const [name, value] of Object.entries(data)) {
    if (value !== null && typeof value === 'object') targets[name] = targetResult(value as Record<string, unknown>);
  }
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

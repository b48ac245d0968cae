import { readFileSync } from 'node:fs';

export interface BuildResult {
  digest?: string;
}

/** Reads the file written by `--metadata-file`; a missing or partial file yields no digest. */
export function readBuildMetadata(path: string): BuildResult {
  try {
    const data = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    const digest = data['containerimage.digest'];
    return { digest: typeof digest === 'string' ? digest : undefined };
  } catch {
    return {};
  }
}

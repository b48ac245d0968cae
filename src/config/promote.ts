import { list } from './list';

type Raw = Record<string, unknown>;

/** `promote:`: new tags for an image already built (and tested), by digest, without building. */
export interface PromoteConfig {
  /** A step key whose `buildkit.<key>.digest` meta-data names the image, or `repository@sha256:...`. */
  from: { step: string } | { ref: string };
  tags: string[];
}

const digestRef = /^[^@\s]+@sha256:[a-f0-9]{64}$/;
const stepKey = /^[A-Za-z0-9_.:-]+$/;

/** The options a promote or merge step may have: it builds nothing. */
export const nonBuildingOptions = [
  'promote',
  'image',
  'tag-rules',
  'push-branches',
  'ecr',
  'login',
  'annotate',
  'meta-data',
  'dry-run',
  'node-download',
  'node-mirror',
];

export function promoteSettings(value: unknown, errors: string[]): PromoteConfig | undefined {
  if (value === undefined) return undefined;
  const raw = value as Raw;
  const from = String(raw.from ?? '').trim();
  let source: PromoteConfig['from'] = { step: from };
  if (from.includes('@')) {
    if (!digestRef.test(from))
      errors.push(`promote.from: expected a step key or an image by digest (registry.example.com/app@sha256:...); got ${JSON.stringify(from)}`);
    source = { ref: from };
  } else if (!stepKey.test(from)) {
    errors.push(`promote.from: expected a step key or an image by digest (registry.example.com/app@sha256:...); got ${JSON.stringify(raw.from ?? '')}`);
  }
  return { from: source, tags: list(raw.tags) };
}

import { list } from './list';

type Raw = Record<string, unknown>;

/** `merge:`: one multi-platform image from the per-platform images other steps pushed. */
export interface MergeConfig {
  /** Step keys whose `buildkit.<key>.digest` meta-data name the images. */
  steps: string[];
  /** When given, exactly these platforms must be there. */
  platforms: string[];
}

const stepKey = /^[A-Za-z0-9_.:-]+$/;

export function mergeSettings(value: unknown, errors: string[]): MergeConfig | undefined {
  if (value === undefined) return undefined;
  const raw = value as Raw;
  const steps = list(raw.steps);
  if (steps.length < 1) errors.push('merge.steps: name the steps whose images to merge (their keys)');
  steps.forEach((step, index) => {
    if (!stepKey.test(step)) errors.push(`merge.steps[${index}]: expected a step key; got ${JSON.stringify(step)}`);
  });
  if (new Set(steps).size !== steps.length) errors.push('merge.steps: a step is named twice');
  const platforms = list(raw.platforms);
  platforms.forEach((platform, index) => {
    if (!/^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/.test(platform))
      errors.push(`merge.platforms[${index}]: expected os/arch[/variant] such as linux/arm64; got ${JSON.stringify(platform)}`);
  });
  return { steps, platforms };
}

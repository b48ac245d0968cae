import { ageSeconds } from './duration';
import { list } from './list';

type Raw = Record<string, unknown>;

/** `skip-unchanged:`: reuse the image built from the same inputs instead of building. */
export interface SkipUnchangedConfig {
  /** Globs relative to the checkout that replace the build context in the key. */
  inputs?: string[];
  /** A reused image is at most this old: the key changes once per window. */
  maxAgeSeconds?: number;
  /** Put before `inputs-` in the tag: separates keys (and forces a rebuild when changed). */
  keyPrefix?: string;
}

/** The longest prefix that keeps `<prefix>-inputs-<64 hex>` within Docker's 128-character tags. */
const maxPrefixLength = 56;
const minAgeSeconds = 60;

export function skipUnchangedSettings(value: unknown, errors: string[]): SkipUnchangedConfig | undefined {
  if (value === undefined || value === false) return undefined;
  const raw: Raw = value === true ? {} : (value as Raw);
  const settings: SkipUnchangedConfig = {};
  if (raw.inputs !== undefined) {
    const inputs = list(raw.inputs);
    // Hashing no file at all would reuse the image whatever changed.
    if (inputs.length === 0) errors.push('skip-unchanged.inputs: expected globs such as package-lock.json or src/**; got none (an empty value?)');
    inputs.forEach((glob, index) => {
      if (glob === '!') errors.push(`skip-unchanged.inputs[${index}]: expected a glob such as package-lock.json or src/**; got "!"`);
      else if (glob.replace(/^!/, '').startsWith('/') || glob.split('/').includes('..'))
        errors.push(`skip-unchanged.inputs[${index}]: globs are relative to the checkout and stay inside it; got ${JSON.stringify(glob)}`);
    });
    if (inputs.length > 0 && inputs.every((glob) => glob.startsWith('!')))
      errors.push('skip-unchanged.inputs: every glob is a negation (!...); name the files the build reads');
    settings.inputs = inputs;
  }
  if (raw['max-age'] !== undefined) {
    const seconds = ageSeconds(String(raw['max-age']).trim());
    if (seconds === undefined || seconds < minAgeSeconds)
      errors.push(`skip-unchanged.max-age: expected a duration of at least 1m, such as 7d, 12h or 1w (or seconds); got ${JSON.stringify(raw['max-age'])}`);
    else settings.maxAgeSeconds = seconds;
  }
  if (raw['key-prefix'] !== undefined) {
    const prefix = String(raw['key-prefix']);
    if (!new RegExp(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,${maxPrefixLength - 1}}$`).test(prefix))
      errors.push(
        `skip-unchanged.key-prefix: expected up to ${maxPrefixLength} characters usable in a tag (letters, digits, _ . -, not starting with . or -); got ${JSON.stringify(prefix)}`,
      );
    else settings.keyPrefix = prefix;
  }
  return settings;
}

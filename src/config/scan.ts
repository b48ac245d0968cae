import { goDuration, goDurationSeconds } from './duration';
import { list } from './list';

type Raw = Record<string, unknown>;

/** The severities a gate can stop at, most severe first. */
export const gateSeverities = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW'] as const;
export type GateSeverity = (typeof gateSeverities)[number];

/** `scan:`: Amazon ECR image scanning with a gate, and a command of the user's own. */
export interface ScanConfig {
  ecr: boolean;
  failOn: GateSeverity | 'never';
  timeoutSeconds: number;
  /** Finding ids (CVE-..., GHSA-..., ALAS-...) that never fail the gate, upper case. */
  ignore: string[];
  command?: string;
}

const defaultTimeoutSeconds = 600;

export function scanSettings(value: unknown, errors: string[]): ScanConfig | undefined {
  if (value === undefined) return undefined;
  const raw = value as Raw;
  const ecr = raw.ecr === true;
  const command = typeof raw.command === 'string' && raw.command.trim() !== '' ? raw.command : undefined;
  if (!ecr && !command) errors.push('scan: say what scans the image: ecr: true (Amazon ECR image scanning), command (a scanner of your own), or both');
  for (const key of ['fail-on', 'timeout', 'ignore']) {
    if (raw[key] !== undefined && !ecr) errors.push(`scan.${key}: applies to the ECR scan; set scan.ecr: true (a scan.command gates by its exit status)`);
  }
  const failOn = String(raw['fail-on'] ?? 'never').trim();
  const gate = failOn.toLowerCase() === 'never' ? 'never' : failOn.toUpperCase();
  if (gate !== 'never' && !(gateSeverities as readonly string[]).includes(gate)) {
    errors.push(`scan.fail-on: expected CRITICAL, HIGH, MEDIUM, LOW or never; got ${JSON.stringify(raw['fail-on'])}`);
  }
  return {
    ecr,
    failOn: gate as GateSeverity | 'never',
    timeoutSeconds: timeoutSeconds(raw.timeout, errors),
    ignore: list(raw.ignore).map((id) => id.toUpperCase()),
    command,
  };
}

/** Seconds, or a duration such as 10m or 1h30m. */
function timeoutSeconds(value: unknown, errors: string[]): number {
  if (value === undefined) return defaultTimeoutSeconds;
  const text = String(value).trim();
  const seconds = /^\d+$/.test(text) ? Number(text) : goDuration.test(text) ? goDurationSeconds(text) : NaN;
  if (!(seconds >= 1)) {
    errors.push(`scan.timeout: expected a duration of at least 1s, such as 600, 90s, 10m or 1h; got ${JSON.stringify(value)}`);
    return defaultTimeoutSeconds;
  }
  return seconds;
}

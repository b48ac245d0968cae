import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What the credential helper hands Docker for one registry. */
export interface Credential {
  username: string;
  secret: string;
  /** ECR tokens expire (ms since the epoch); static passwords do not. */
  expiresAt?: number;
  issuedAt?: number;
}

export type Credentials = Record<string, Credential>;

/** The job's credentials, private (0600) inside its Docker config dir. */
function credentialsFile(configDir: string): string {
  return join(configDir, 'buildkit-credentials.json');
}

export function readCredentials(configDir: string): Credentials {
  const file = credentialsFile(configDir);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Credentials) : {};
}

/** Merges `update` in, atomically: a concurrent reader sees the old file or the new one. */
export function writeCredentials(configDir: string, update: Credentials): void {
  const file = credentialsFile(configDir);
  const next = `${file}.${process.pid}.tmp`;
  writeFileSync(next, JSON.stringify({ ...readCredentials(configDir), ...update }), { mode: 0o600 });
  renameSync(next, file);
}

/** Refresh a token this close to its expiry: 5 minutes, or half the life of a short one. */
export function needsRefresh(credential: Credential, now: number): boolean {
  if (credential.expiresAt === undefined || credential.issuedAt === undefined) return false;
  const life = credential.expiresAt - credential.issuedAt;
  return credential.expiresAt - now < Math.min(5 * 60_000, life / 2);
}

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TlsConfig } from '../config/types';
import { inCheckout } from '../plan/build-request';
import { StateFile } from '../plan/step';

type Env = Record<string, string | undefined>;

export interface TlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  /** PEM from `env:NAME` values, written 0600 into the state dir (gone with it in pre-exit). */
  files: StateFile[];
}

const names = { ca: 'ca.pem', cert: 'cert.pem', key: 'key.pem' } as const;

/**
 * Where each TLS file will be: a path as given (relative ones against the checkout: the
 * environment hook runs before it exists), or a state-dir file holding an `env:NAME` value.
 */
export function tlsFiles(tls: TlsConfig | undefined, env: Env, stateDir: string, prefix: string): TlsFiles {
  const result: TlsFiles = { files: [], servername: tls?.servername };
  for (const key of ['ca', 'cert', 'key'] as const) {
    const value = tls?.[key];
    if (value === undefined) continue;
    const source = tlsSource(value, env);
    if ('variable' in source) {
      const name = `${prefix}tls-${names[key]}`;
      result.files.push({ name, content: env[source.variable] ?? '', mode: 0o600 });
      result[key] = join(stateDir, name);
    } else {
      result[key] = source.path;
    }
  }
  return result;
}

/** The PEM itself (for the connection check, before any file is written); undefined without TLS. */
export function tlsPem(tls: TlsConfig | undefined, env: Env): { ca?: string; cert?: string; key?: string; servername?: string } | undefined {
  if (!tls || (tls.ca === undefined && tls.cert === undefined && tls.key === undefined)) return undefined;
  const read = (value: string | undefined) => {
    if (value === undefined) return undefined;
    const source = tlsSource(value, env);
    return 'variable' in source ? (env[source.variable] ?? '') : readFileSync(source.path, 'utf8');
  };
  return { ca: read(tls.ca), cert: read(tls.cert), key: read(tls.key), servername: tls.servername };
}

/** Where a TLS value comes from: a variable (`env:NAME`), or a file (relative ones in the checkout). */
function tlsSource(value: string, env: Env): { variable: string } | { path: string } {
  const variable = /^env:(.+)$/.exec(value)?.[1];
  if (variable !== undefined) return { variable };
  return { path: inCheckout(value, env) };
}

/** buildctl's flags for these files. */
export function buildctlTlsFlags(tls: TlsFiles): string[] {
  const flags: string[] = [];
  if (tls.ca) flags.push('--tlscacert', tls.ca);
  if (tls.cert) flags.push('--tlscert', tls.cert);
  if (tls.key) flags.push('--tlskey', tls.key);
  if (tls.servername) flags.push('--tlsservername', tls.servername);
  return flags;
}

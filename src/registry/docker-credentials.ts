import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentialKey } from './docker-config';
import { RegistryError } from './registry-error';

/** A registry's credentials as the docker CLI finds them in config.json. */
export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth refresh token (`identitytoken`, or a helper's `<token>` user). */
  identityToken?: string;
  /** Where they came from, for messages: "credentials from docker-credential-x", "no credentials for ...". Never a secret. */
  source: string;
}

export interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

export interface DockerConfigFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

export type CredentialSource = { key: string } & ({ helper: string } | { auths: AuthEntry } | { none: true });

export interface HelperAccess {
  env: Record<string, string | undefined>;
  signal?: AbortSignal;
  timeoutMs?: number;
}

const hostOfKey = (key: string) => key.replace(/^https?:\/\//, '').split('/')[0];

/** A config map's entry for key: exactly, else under a key naming the same host (`https://host`, `https://host/v1/`), as Docker matches auths. */
function entryFor<T>(map: Record<string, T> | undefined, key: string): T | undefined {
  if (!map) return undefined;
  if (Object.hasOwn(map, key)) return map[key];
  const match = Object.keys(map).find((k) => hostOfKey(k) === hostOfKey(key));
  return match === undefined ? undefined : map[match];
}

/** Where the docker CLI looks for a registry's credentials: its credHelpers entry, then credsStore, then auths. */
export function credentialSource(config: DockerConfigFile, registry: string): CredentialSource {
  const key = credentialKey(registry);
  const helper = entryFor(config.credHelpers, key) || config.credsStore;
  if (helper) return { key, helper };
  const auths = entryFor(config.auths, key);
  return auths ? { key, auths } : { key, none: true };
}

function readConfig(file: string): DockerConfigFile {
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as DockerConfigFile;
  } catch {
    throw new RegistryError(`${file} is not valid JSON`);
  }
}

function fromAuths(entry: AuthEntry, key: string, file: string): Credentials {
  const source = `credentials from auths in ${file}`;
  const identityToken = entry.identitytoken || undefined;
  if (!entry.auth) return { username: entry.username, password: entry.password, identityToken, source };
  const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new RegistryError(`auths[${JSON.stringify(key)}].auth in ${file} is not base64 of user:password`);
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), identityToken, source };
}

/** The credentials of a registry from `<dockerConfigDir>/config.json`, running the credential helper it names. */
export async function readCredentials(registry: string, dockerConfigDir: string, access: HelperAccess): Promise<Credentials> {
  const file = join(dockerConfigDir, 'config.json');
  const source = credentialSource(readConfig(file), registry);
  if ('helper' in source) return fromHelper(source.helper, source.key, file, access);
  if ('auths' in source) return fromAuths(source.auths, source.key, file);
  return { source: `no credentials for ${source.key} in ${file}` };
}

/** `docker-credential-<name> get`, the server on stdin: https://github.com/docker/docker-credential-helpers. */
async function fromHelper(name: string, server: string, file: string, access: HelperAccess): Promise<Credentials> {
  const program = `docker-credential-${name}`;
  const { code, stdout, stderr } = await runHelper(program, server, file, access);
  if (code !== 0) {
    const said = stdout.trim() || stderr.trim();
    // Docker's words for "none here": the client goes on without credentials.
    if (said.includes('credentials not found')) return { source: `no credentials for ${server} in ${program}` };
    throw new RegistryError(`${program} get (credentials for ${server}) failed with ${code}: ${said.split('\n')[0]?.slice(0, 200)}`);
  }
  let answer: { Username?: unknown; Secret?: unknown };
  try {
    answer = JSON.parse(stdout) as typeof answer;
  } catch {
    throw new RegistryError(`${program} get (credentials for ${server}) did not answer JSON`);
  }
  const username = typeof answer.Username === 'string' ? answer.Username : undefined;
  const secret = typeof answer.Secret === 'string' ? answer.Secret : undefined;
  const source = `credentials from ${program}`;
  return username === '<token>' ? { identityToken: secret, source } : { username, password: secret, source };
}

function runHelper(program: string, server: string, file: string, access: HelperAccess): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(access.env).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const timeoutMs = access.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawn(program, ['get'], { env, signal: access.signal, stdio: 'pipe' });
    // Not spawn's own timeout: its timer outlives a helper that is not on PATH.
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdin.on('error', () => undefined); // a helper may exit without reading its input
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.name === 'AbortError') reject(err);
      else if (err.code === 'ENOENT') reject(new RegistryError(`${program} (named in ${file}) is not on PATH`));
      else reject(new RegistryError(`${program}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) reject(new RegistryError(`${program} get (credentials for ${server}) did not answer in ${timeoutMs / 1000} s`));
      else resolve({ code: code ?? signal ?? 'a signal', stdout, stderr });
    });
    child.stdin.end(server);
  });
}

import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { manifestTypes } from './media-types';

/**
 * A real registry (distribution, TLS + htpasswd) that answers under an ECR host name, so image
 * refs keep their real ECR form: 127.0.0.1:443, the name in /etc/hosts, the certificate in
 * /etc/docker/certs.d for the Docker engine. One user, AWS, whose password is the current token.
 * Needs root; a guard process puts /etc/hosts and /etc/docker back even when this process dies.
 */

export const ecrHost = '123456789012.dkr.ecr.us-east-1.amazonaws.com';

export interface EcrRegistry {
  host: string;
  /** PEM of the self-signed certificate (its own CA). */
  caFile: string;
  /** Replaces the one accepted password of user AWS. */
  setPassword(token: string): void;
  stop(): Promise<void>;
}

const hostsFile = '/etc/hosts';
const hostsLine = `127.0.0.1 ${ecrHost}`;
const certsDir = `/etc/docker/certs.d/${ecrHost}`;
const tools = ['openssl', 'htpasswd', 'docker-registry'];

let current: EcrRegistry | undefined;

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, tool)));
}

/** Whether something listens on TCP port 443 (any address), from /proc/net/tcp{,6}. */
function port443Taken(): boolean {
  return ['/proc/net/tcp', '/proc/net/tcp6'].some((file) => {
    if (!existsSync(file)) return false;
    return readFileSync(file, 'utf8')
      .split('\n')
      .slice(1)
      .some((line) => {
        const [, local, , state] = line.trim().split(/\s+/);
        return state === '0A' && local?.endsWith(':01BB');
      });
  });
}

/** Why the ECR registry cannot run here (not root, port 443 taken, a tool missing), or undefined. */
export function ecrRegistryUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (needs /etc/hosts, /etc/docker/certs.d and port 443)';
  const missing = tools.filter((tool) => !onPath(tool));
  if (missing.length > 0) return `missing ${missing.join(', ')} (Debian: openssl, apache2-utils, docker-registry)`;
  if (port443Taken()) return 'something already listens on port 443';
  const names = readFileSync(hostsFile, 'utf8')
    .split('\n')
    .flatMap((line) => line.split(/\s+/).slice(1));
  if (names.includes(ecrHost)) return `${hostsFile} already names ${ecrHost} (a leftover? remove that line)`;
  if (existsSync(certsDir)) return `${certsDir} already exists (a leftover? remove it)`;
  return undefined;
}

/** describe() when the registry can run, else one loud SKIPPED line and describe.skip. */
export function describeWithEcrRegistry(name: string, body: () => void): void {
  const reason = ecrRegistryUnavailable();
  if (reason === undefined) {
    describe(name, body);
  } else {
    process.stderr.write(`SKIPPED: no ECR registry (${reason}): ${name}\n`);
    describe.skip(name, body);
  }
}

/**
 * Runs detached, holding the read end of a pipe: on "pid N" it notes the registry, on "stop" or
 * when the pipe closes (this process died) it stops the registry, takes our line out of
 * /etc/hosts (written in place: it may be a bind mount) and removes the directories we made.
 */
const guardScript = `
const fs = require('fs');
const plan = JSON.parse(process.argv[1]);
let pid = 0, done = false;
const alive = (p) => { try { return !/^\\d+ \\(.*\\) Z/.test(fs.readFileSync('/proc/' + p + '/stat', 'utf8')); } catch { return false; } };
function cleanup() {
  if (done) return;
  done = true;
  try {
    if (pid && alive(pid) && fs.readFileSync('/proc/' + pid + '/cmdline', 'utf8').includes('docker-registry')) {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 100 && alive(pid); i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  } catch (e) { console.error('ecr-registry guard:', e.message); }
  try {
    const text = fs.readFileSync(plan.hostsFile, 'utf8');
    const at = text.lastIndexOf(plan.added);
    if (at >= 0) fs.writeFileSync(plan.hostsFile, text.slice(0, at) + text.slice(at + plan.added.length));
    else if (text.split('\\n').includes(plan.line)) {
      const lines = text.split('\\n');
      lines.splice(lines.lastIndexOf(plan.line), 1);
      fs.writeFileSync(plan.hostsFile, lines.join('\\n'));
    }
  } catch (e) { console.error('ecr-registry guard:', e.message); }
  for (const [dir, recursive] of plan.dirs) {
    try { if (fs.existsSync(dir)) (recursive ? fs.rmSync(dir, { recursive: true }) : fs.rmdirSync(dir)); }
    catch (e) { console.error('ecr-registry guard:', e.message); }
  }
}
let input = '';
process.stdin.on('data', (chunk) => {
  input += chunk;
  let nl;
  while ((nl = input.indexOf('\\n')) >= 0) {
    const line = input.slice(0, nl);
    input = input.slice(nl + 1);
    if (line.startsWith('pid ')) pid = Number(line.slice(4));
    if (line === 'stop') { cleanup(); process.exit(0); }
  }
});
process.stdin.on('end', () => { cleanup(); process.exit(0); });
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => { cleanup(); process.exit(1); });
process.stdout.write('ready\\n');
`;

function startGuard(plan: object): Promise<ChildProcess> {
  const guard = spawn(process.execPath, ['-e', guardScript, JSON.stringify(plan)], { detached: true, stdio: ['pipe', 'pipe', 'inherit'] });
  guard.unref();
  (guard.stdin as unknown as { unref(): void }).unref();
  return new Promise((resolve, reject) => {
    const early = (code: number | null) => reject(new Error(`the ECR registry guard exited ${code} before it was ready`));
    guard.once('error', reject);
    guard.once('exit', early);
    guard.stdout?.once('data', () => {
      guard.off('exit', early);
      guard.stdout?.destroy();
      resolve(guard);
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function terminate(child: ChildProcess): Promise<void> {
  const done = exited(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  child.kill('SIGTERM');
  await done;
  clearTimeout(timer);
}

/** GET https://<ecrHost><path>, trusting only `ca`. */
function httpsGet(
  path: string,
  ca: string,
  auth?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: ecrHost, port: 443, path, ca, auth, headers, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

function writeHtpasswd(dir: string, token: string, mtime?: Date): void {
  const line = execFileSync('htpasswd', ['-Bbn', 'AWS', token], { encoding: 'utf8' });
  writeFileSync(join(dir, 'htpasswd.new'), line);
  // The registry re-reads the file when its mtime changes; make sure it does change.
  if (mtime) utimesSync(join(dir, 'htpasswd.new'), mtime, mtime);
  renameSync(join(dir, 'htpasswd.new'), join(dir, 'htpasswd'));
}

/**
 * Go programs (dockerd, buildkitd) cache /etc/hosts for up to 5 s before they look at it again,
 * so the new name is only sure to resolve that long after it was written.
 */
const hostsCacheMs = 5_500;

function writeConfig(dir: string, caFile: string): void {
  const yaml = [
    'version: 0.1',
    'log:',
    '  level: warn',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'storage')}`,
    'http:',
    '  addr: 127.0.0.1:443',
    '  tls:',
    `    certificate: ${caFile}`,
    `    key: ${join(dir, 'key.pem')}`,
    'auth:',
    '  htpasswd:',
    '    realm: ecr-test',
    `    path: ${join(dir, 'htpasswd')}`,
  ];
  writeFileSync(join(dir, 'config.yml'), `${yaml.join('\n')}\n`);
}

export async function startEcrRegistry(initialToken: string): Promise<EcrRegistry> {
  const reason = ecrRegistryUnavailable();
  if (reason) throw new Error(`the ECR registry cannot run here: ${reason}`);
  // Not a scratch dir: the guard removes it once the registry has exited.
  const dir = mkdtempSync(join(tmpdir(), 'ecr-registry-'));
  const caFile = join(dir, 'cert.pem');
  const log = join(dir, 'registry.log');

  // What the guard removes: our temp dir, the certificate directory, and its parents only if we create them.
  const dirs: Array<[string, boolean]> = [
    [dir, true],
    [certsDir, true],
  ];
  for (const parent of ['/etc/docker/certs.d', '/etc/docker']) if (!existsSync(parent)) dirs.push([parent, false]);
  const hosts = readFileSync(hostsFile, 'utf8');
  const added = `${hosts === '' || hosts.endsWith('\n') ? '' : '\n'}${hostsLine}\n`;
  const guard = await startGuard({ hostsFile, line: hostsLine, added, dirs });
  guard.stdin?.on('error', () => undefined); // a guard that is already gone has nothing left to do
  const tell = (line: string) => guard.stdin?.write(`${line}\n`);

  let registry: ChildProcess | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= shutdown());
  const shutdown = async () => {
    if (current === self) current = undefined;
    if (registry) await terminate(registry);
    const guardExited = exited(guard);
    tell('stop');
    await guardExited;
  };
  const self: EcrRegistry = { host: ecrHost, caFile, setPassword: () => undefined, stop };

  try {
    appendFileSync(hostsFile, added);
    const resolvable = Date.now() + hostsCacheMs;
    const subject = ['-subj', `/CN=${ecrHost}`, '-addext', `subjectAltName=DNS:${ecrHost},DNS:localhost,IP:127.0.0.1`];
    const files = ['-keyout', join(dir, 'key.pem'), '-out', caFile];
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', ...subject, ...files], { stdio: 'ignore' });
    mkdirSync(certsDir, { recursive: true });
    writeFileSync(join(certsDir, 'ca.crt'), readFileSync(caFile));
    writeHtpasswd(dir, initialToken);
    writeConfig(dir, caFile);

    registry = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
    registry.stderr?.on('data', (chunk: Buffer) => appendFileSync(log, chunk));
    tell(`pid ${registry.pid}`);
    const ca = readFileSync(caFile, 'utf8');
    for (let i = 0; ; i++) {
      const status = await httpsGet('/v2/', ca).then(
        (res) => res.status,
        () => 0,
      );
      if (status === 401) break;
      if (registry.exitCode !== null || i >= 100) {
        throw new Error(`the ECR registry did not come up (last status ${status}):\n${existsSync(log) ? readFileSync(log, 'utf8') : ''}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, resolvable - Date.now())));
  } catch (err) {
    await stop();
    throw err;
  }

  let lastMtime = 0;
  self.setPassword = (token) => {
    lastMtime = Math.max(Date.now(), lastMtime + 1000);
    writeHtpasswd(dir, token, new Date(lastMtime));
  };
  current = self;
  return self;
}

/** Writes dir/config.json with basic-auth credentials (AWS:token) for the ECR host; returns dir. */
export function dockerConfigWithAuth(dir: string, token: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [ecrHost]: { auth: Buffer.from(`AWS:${token}`).toString('base64') } } }));
  return dir;
}

/** The manifest of repo:reference (tag or digest) in the running ECR registry, with AWS:token: its media type, text and digest; undefined on 404, throws on any other failure. */
export async function ecrManifestRaw(
  repo: string,
  reference: string,
  token: string,
): Promise<{ mediaType: string; manifest: string; digest: string } | undefined> {
  if (!current) throw new Error('no ECR registry is running (startEcrRegistry)');
  const res = await httpsGet(`/v2/${repo}/manifests/${reference}`, readFileSync(current.caFile, 'utf8'), `AWS:${token}`, { Accept: manifestTypes });
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new Error(`ECR registry: ${res.status} for ${repo}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`);
  return { mediaType: res.headers['content-type'] as string, manifest: res.body, digest: res.headers['docker-content-digest'] as string };
}

/** The digest of repo:tag in the running ECR registry, with AWS:token; undefined on 404, throws on any other failure. */
export async function ecrManifest(repo: string, tag: string, token: string): Promise<string | undefined> {
  return (await ecrManifestRaw(repo, tag, token))?.digest;
}

import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scratchDir } from '../support/scratch';

/**
 * Real buildkitd daemons for the remote and daemonless engines. scripts/test.sh provides the
 * binaries (scripts/provide-buildkit.sh) in BUILDKIT_TEST_BIN_DIR; without them these tests
 * print one loud SKIPPED line and are skipped, never passed.
 */
export const buildkitBinDir = process.env.BUILDKIT_TEST_BIN_DIR;

export function describeWithBuildkitd(name: string, body: () => void): void {
  if (buildkitBinDir && existsSync(join(buildkitBinDir, 'buildkitd'))) {
    describe(name, body);
  } else {
    process.stderr.write(`SKIPPED: no buildkitd (${process.env.BUILDKIT_TEST_SKIP_REASON ?? 'BUILDKIT_TEST_BIN_DIR is not set'}): ${name}\n`);
    describe.skip(name, body);
  }
}

export interface Daemon {
  address: string;
  root: string;
  stop(): Promise<void>;
}

const running = new Set<Daemon>();
afterAll(async () => Promise.all([...running].map((daemon) => daemon.stop())));

/** A registry served over TLS with a certificate of its own CA, e.g. the ECR stand-in of ecr-registry.ts. */
export interface RegistryCa {
  host: string;
  caFile: string;
}

/** Writes dir/buildkitd.toml trusting `ca` for its registry host; returns the file. */
export function registryCaConfig(dir: string, ca: RegistryCa): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'buildkitd.toml');
  writeFileSync(file, `[registry.${JSON.stringify(ca.host)}]\n  ca = [${JSON.stringify(ca.caFile)}]\n`);
  return file;
}

/** A buildkitd on 127.0.0.1 (a free port), with its own root; mTLS when `tls` is given. */
export async function startBuildkitd(tls?: Certificates, options: { registryCa?: RegistryCa } = {}): Promise<Daemon> {
  const bin = buildkitBinDir ?? '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    // Not a scratch dir: it is removed only once the daemon has exited.
    const root = mkdtempSync(join(tmpdir(), 'buildkitd-'));
    const address = `tcp://127.0.0.1:${port}`;
    const args = ['--addr', address, '--root', join(root, 'state'), '--oci-worker=true', '--containerd-worker=false'];
    if (tls) args.push('--tlscacert', tls.ca, '--tlscert', tls.cert, '--tlskey', tls.key);
    if (options.registryCa) args.push('--config', registryCaConfig(root, options.registryCa));
    const child: ChildProcess = spawn(join(bin, 'buildkitd'), args, { stdio: 'ignore' });
    const daemon: Daemon = {
      address,
      root,
      stop: async () => {
        running.delete(daemon);
        await stopChild(child);
        rmSync(root, { recursive: true, force: true });
      },
    };
    running.add(daemon);
    const client = tls ? ['--tlscacert', tls.ca, '--tlscert', tls.clientCert, '--tlskey', tls.clientKey] : [];
    for (let i = 0; i < 100 && child.exitCode === null; i++) {
      try {
        execFileSync(join(bin, 'buildctl'), ['--addr', address, ...client, 'debug', 'workers'], { stdio: 'ignore' });
        return daemon;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    await daemon.stop();
  }
  throw new Error('buildkitd did not start');
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export interface Certificates {
  ca: string;
  cert: string;
  key: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed none of them. */
  otherCa: string;
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
export function makeCertificates(): Certificates {
  const dir = scratchDir('buildkit-certs-');
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  const ca = (name: string) =>
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', `${name}-key.pem`, '-out', `${name}.pem`);
  ca('ca');
  ca('other-ca');
  const leaf = (name: string, usage: string, san?: string) => {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`);
    writeFileSync(join(dir, `${name}.ext`), `extendedKeyUsage=${usage}\n${san ? `subjectAltName=${san}\n` : ''}`);
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca-key.pem',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    );
  };
  leaf('server', 'serverAuth', 'IP:127.0.0.1,DNS:localhost');
  leaf('client', 'clientAuth');
  const at = (name: string) => join(dir, name);
  return {
    ca: at('ca.pem'),
    cert: at('server.pem'),
    key: at('server-key.pem'),
    clientCert: at('client.pem'),
    clientKey: at('client-key.pem'),
    otherCa: at('other-ca.pem'),
  };
}

/** The BuildKit binaries, then every tool of the system's bin directories but docker. */
export function pathWithoutDocker(): string {
  return `${buildkitBinDir}:${systemToolsBut(['docker'])}`;
}

/** A PATH directory of links to the system's tools, without those whose names start with one of `left`. */
export function systemToolsBut(left: string[]): string {
  const dir = scratchDir('tools-bin-');
  mkdirSync(dir, { recursive: true });
  for (const source of ['/usr/local/bin', '/usr/bin', '/usr/sbin', '/bin', '/sbin']) {
    if (!existsSync(source)) continue;
    for (const name of readdirSync(source)) {
      if (left.some((prefix) => name.startsWith(prefix)) || existsSync(join(dir, name))) continue;
      symlinkSync(join(source, name), join(dir, name));
    }
  }
  return dir;
}

/** builder: for buildctl-daemonless.sh with its own root (no containerd here); trusting `ca` when given. */
export function daemonless(root: string, ca?: RegistryCa): Record<string, string> {
  const config = ca ? `--config ${registryCaConfig(root, ca)} ` : '';
  return { driver: 'daemonless', 'buildkitd-flags': `${config}--root ${root} --oci-worker=true --containerd-worker=false` };
}

/** The process environment with buildctl on PATH. */
export function withBuildctl(): Record<string, string> {
  return { PATH: `${buildkitBinDir}:${process.env.PATH ?? ''}` };
}

/** What buildctl-daemonless.sh leaves in /tmp when it does not clean up. */
export function daemonlessTempDirs(): string[] {
  return readdirSync('/tmp').filter((name) => name.startsWith('buildctl-daemonless.'));
}

/** buildkitd processes whose command line names this root. */
export function daemonsUsing(root: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out.split('\n').filter((line) => line.includes('buildkitd') && line.includes(root));
}

import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { AddressInfo, Server as NetServer, Socket, createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { Manifest, RegistryAccess, RegistryError, imageLabels, lookUpManifest, putManifest } from '../../src/registry/distribution';
import { FaultProxy } from './fault-proxy';
import { scratchDir, testRegistry } from './support';
import { defined } from '../support/defined';

jest.setTimeout(120_000);

/**
 * The distribution client against real registries: the run's plain-HTTP registry, a second
 * plain one, and one with TLS (a client certificate required) and htpasswd. Bearer token auth
 * is the one stand-in: a strict token server + auth proxy in front of the run's registry.
 * Test images are uploaded through the registry API, blob by blob.
 */

const registry = testRegistry();
const run = Date.now().toString(36);
const emptyConfig = scratchDir('distribution-config-');
const plainAccess: RegistryAccess = { dockerConfigDir: emptyConfig, env: { PATH: '' } };

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const manifestTypes =
  'application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';

// ---------------------------------------------------------------- a plain HTTP(S) client, independent of the code under test

interface RawOptions {
  method?: string;
  headers?: Record<string, string | number>;
  body?: Buffer;
  tls?: { ca: string; cert: string; key: string };
}

interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function raw(url: string, options: RawOptions = {}): Promise<RawAnswer> {
  const secure = url.startsWith('https:');
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false, ...options.tls }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Where a registry answers and how to reach it: `http://127.0.0.1:PORT`, with its TLS files and Basic credentials. */
interface Endpoint {
  base: string;
  tls?: RawOptions['tls'];
  authorization?: string;
}

const plain = (host: string): Endpoint => ({ base: `http://${host}` });

function rawAt(endpoint: Endpoint, path: string, options: RawOptions = {}): Promise<RawAnswer> {
  const headers = { ...options.headers, ...(endpoint.authorization ? { Authorization: endpoint.authorization } : {}) };
  return raw(new URL(path, endpoint.base).href, { ...options, headers, tls: endpoint.tls });
}

// ---------------------------------------------------------------- test images, uploaded through the registry API

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string };
  annotations?: Record<string, string>;
}

async function uploadBlob(endpoint: Endpoint, repo: string, mediaType: string, bytes: Buffer): Promise<Descriptor> {
  const digest = sha256(bytes);
  const start = await rawAt(endpoint, `/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  expect(start.status).toBe(202);
  const location = new URL(defined(start.headers.location, 'an upload location'), endpoint.base);
  location.searchParams.set('digest', digest);
  const put = await rawAt(endpoint, location.href, { method: 'PUT', body: bytes, headers: { 'Content-Type': 'application/octet-stream' } });
  expect(put.status).toBe(201);
  return { mediaType, digest, size: bytes.length };
}

/** Puts a manifest under the tag, or by its digest. */
async function uploadManifest(
  endpoint: Endpoint,
  repo: string,
  tag: string | undefined,
  mediaType: string,
  content: object,
): Promise<Descriptor & { bytes: Buffer }> {
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, ...content }, null, 2));
  const put = await rawAt(endpoint, `/v2/${repo}/manifests/${tag ?? sha256(bytes)}`, { method: 'PUT', body: bytes, headers: { 'Content-Type': mediaType } });
  expect(put.status).toBe(201);
  return { mediaType, digest: sha256(bytes), size: bytes.length, bytes };
}

interface TestImage {
  repo: string;
  tag: string;
  digest: string;
  bytes: Buffer;
  mediaType: string;
  /** The labels of the image config imageLabels should read. */
  labels: Record<string, string>;
  /** The child manifests (of an index) and every blob, by digest. */
  children: string[];
  blobs: string[];
}

const ociIndex = 'application/vnd.oci.image.index.v1+json';
const ociManifest = 'application/vnd.oci.image.manifest.v1+json';
const ociConfig = 'application/vnd.oci.image.config.v1+json';
const ociLayer = 'application/vnd.oci.image.layer.v1.tar+gzip';

/**
 * An index as BuildKit pushes it, but with its provenance attestation listed first: images for
 * linux/amd64 and linux/arm64 sharing a 3 MiB base layer, and an attestation manifest (platform
 * unknown/unknown) whose layer is an in-toto statement.
 */
async function uploadIndex(endpoint: Endpoint, repo: string, tag: string): Promise<TestImage> {
  const base = await uploadBlob(endpoint, repo, ociLayer, randomBytes(3 << 20));
  const images: Descriptor[] = [];
  const blobs = [base.digest];
  for (const architecture of ['amd64', 'arm64']) {
    const labels = { 'org.example.platform': `linux/${architecture}`, 'com.buildkite.build-url': 'https://buildkite.com/acme/app/builds/42' };
    const config = await uploadBlob(endpoint, repo, ociConfig, Buffer.from(JSON.stringify({ architecture, os: 'linux', config: { Labels: labels } })));
    const own = await uploadBlob(endpoint, repo, ociLayer, randomBytes(1 << 20));
    blobs.push(config.digest, own.digest);
    const image = await uploadManifest(endpoint, repo, undefined, ociManifest, { config, layers: [base, own] });
    images.push({ mediaType: ociManifest, digest: image.digest, size: image.size, platform: { os: 'linux', architecture } });
  }
  const statement = { _type: 'https://in-toto.io/Statement/v0.1', predicateType: 'https://slsa.dev/provenance/v0.2', predicate: {} };
  const attestationConfig = await uploadBlob(endpoint, repo, ociConfig, Buffer.from('{"architecture":"unknown","os":"unknown","config":{}}'));
  const intoto = await uploadBlob(endpoint, repo, 'application/vnd.in-toto+json', Buffer.from(JSON.stringify(statement)));
  blobs.push(attestationConfig.digest, intoto.digest);
  const layer = { ...intoto, annotations: { 'in-toto.io/predicate-type': statement.predicateType } };
  const attestation = await uploadManifest(endpoint, repo, undefined, ociManifest, { config: attestationConfig, layers: [layer] });
  const amd64 = defined(images[0], 'the amd64 image');
  const attestationDescriptor: Descriptor = {
    mediaType: ociManifest,
    digest: attestation.digest,
    size: attestation.size,
    platform: { os: 'unknown', architecture: 'unknown' },
    annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': amd64.digest },
  };
  const index = await uploadManifest(endpoint, repo, tag, ociIndex, { manifests: [attestationDescriptor, ...images] });
  return {
    repo,
    tag,
    digest: index.digest,
    bytes: index.bytes,
    mediaType: ociIndex,
    labels: { 'org.example.platform': 'linux/amd64', 'com.buildkite.build-url': 'https://buildkite.com/acme/app/builds/42' },
    children: [attestation.digest, ...images.map((image) => image.digest)],
    blobs,
  };
}

/** One image with a Docker (v2 schema 2) manifest. */
async function uploadSingle(endpoint: Endpoint, repo: string, tag: string): Promise<TestImage> {
  const labels = { 'org.opencontainers.image.revision': 'c0ffee', 'org.example.kind': 'single' };
  const config = await uploadBlob(
    endpoint,
    repo,
    'application/vnd.docker.container.image.v1+json',
    Buffer.from(JSON.stringify({ os: 'linux', config: { Labels: labels } })),
  );
  const layer = await uploadBlob(endpoint, repo, 'application/vnd.docker.image.rootfs.diff.tar.gzip', randomBytes(64 << 10));
  const mediaType = 'application/vnd.docker.distribution.manifest.v2+json';
  const manifest = await uploadManifest(endpoint, repo, tag, mediaType, { config, layers: [layer] });
  return { repo, tag, digest: manifest.digest, bytes: manifest.bytes, mediaType, labels, children: [], blobs: [config.digest, layer.digest] };
}

/** The registry serves the image's tag with its digest, and every child manifest and blob, each checked against its digest. */
async function expectComplete(endpoint: Endpoint, repo: string, tag: string, image: TestImage): Promise<void> {
  const top = await rawAt(endpoint, `/v2/${repo}/manifests/${tag}`, { headers: { Accept: manifestTypes } });
  expect(top.status).toBe(200);
  expect(top.headers['docker-content-digest']).toBe(image.digest);
  expect(top.headers['content-type']).toBe(image.mediaType);
  expect(top.body.equals(image.bytes)).toBe(true);
  for (const digest of image.children) {
    const child = await rawAt(endpoint, `/v2/${repo}/manifests/${digest}`, { headers: { Accept: manifestTypes } });
    expect([digest, child.status]).toEqual([digest, 200]);
    expect(sha256(child.body)).toBe(digest);
  }
  for (const digest of image.blobs) {
    const blob = await rawAt(endpoint, `/v2/${repo}/blobs/${digest}`);
    expect([digest, blob.status]).toEqual([digest, 200]);
    expect(sha256(blob.body)).toBe(digest);
  }
}

// ---------------------------------------------------------------- real registries of our own

interface StartedRegistry {
  host: string;
  dir: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
  child.kill('SIGTERM');
  await exited;
  clearTimeout(kill);
}

/** `docker-registry serve` on a free 127.0.0.1 port, storage in a temp dir, as scripts/with-engine.sh runs it; TLS and htpasswd when given. */
async function startRegistry(extra: string[] = []): Promise<StartedRegistry> {
  const dir = scratchDir('distribution-registry-');
  for (let attempt = 0; ; attempt++) {
    const host = `127.0.0.1:${await freePort()}`;
    const yaml = [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'storage')}`,
    ];
    yaml.push('http:', `  addr: ${host}`, `  secret: ${randomBytes(16).toString('hex')}`, ...extra);
    writeFileSync(join(dir, 'config.yml'), `${yaml.join('\n')}\n`);
    const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (chunk: Buffer) => appendFileSync(join(dir, 'registry.log'), chunk));
    const up = await answers(host, child);
    if (up) return { host, dir, stop: () => stopChild(child) };
    await stopChild(child);
    const log = existsSync(join(dir, 'registry.log')) ? readFileSync(join(dir, 'registry.log'), 'utf8') : '';
    if (attempt >= 4 || !log.includes('address already in use')) throw new Error(`docker-registry did not come up on ${host}:\n${log}`);
  }
}

/** Whether something accepts connections on host before the registry exits (10 s at most). */
async function answers(host: string, child: ChildProcess): Promise<boolean> {
  const [hostname, port] = host.split(':');
  for (let i = 0; i < 100 && child.exitCode === null; i++) {
    const socket = new Socket();
    const open = await new Promise<boolean>((resolve) => {
      socket.once('connect', () => resolve(true)).once('error', () => resolve(false));
      socket.connect(Number(port), hostname ?? '127.0.0.1');
    });
    socket.destroy();
    if (open) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

function writeDockerConfig(config: object): string {
  const dir = scratchDir('distribution-docker-config-');
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

const basicAuth = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString('base64');

// ---------------------------------------------------------------- the tests

let index: TestImage;
let single: TestImage;
const indexRef = () => `${registry}/${index.repo}:${index.tag}`;

async function lookUp(ref: string, access: RegistryAccess = plainAccess): Promise<Manifest> {
  return defined(await lookUpManifest(ref, access), `the manifest of ${ref}`);
}

beforeAll(async () => {
  index = await uploadIndex(plain(registry), `e2e/distribution-${run}/app`, 'v1');
  single = await uploadSingle(plain(registry), `e2e/distribution-${run}/single`, 'v1');
});

describe('lookUpManifest', () => {
  test('an index by tag and by digest: its bytes, digest and media type', async () => {
    const byTag = await lookUp(indexRef());
    expect(byTag).toEqual({ ref: indexRef(), repository: `${registry}/${index.repo}`, digest: index.digest, mediaType: ociIndex, bytes: index.bytes });
    const byDigest = await lookUp(`${registry}/${index.repo}@${index.digest}`);
    expect(byDigest.digest).toBe(index.digest);
    expect(byDigest.bytes.equals(index.bytes)).toBe(true);
  });

  test('a Docker v2 manifest', async () => {
    const found = await lookUp(`${registry}/${single.repo}:v1`);
    expect(found.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(found.digest).toBe(single.digest);
  });

  test('an unknown tag, an unknown repository and an unknown digest are not there', async () => {
    expect(await lookUpManifest(`${registry}/${index.repo}:no-such-tag`, plainAccess)).toBeUndefined();
    expect(await lookUpManifest(`${registry}/e2e/no-such-repo-${run}:v1`, plainAccess)).toBeUndefined();
    expect(await lookUpManifest(`${registry}/${index.repo}@sha256:${'0'.repeat(64)}`, plainAccess)).toBeUndefined();
  });

  test('a registry that does not answer is a RegistryError naming the ref; a bad reference too', async () => {
    const port = await freePort();
    const failure = lookUpManifest(`127.0.0.1:${port}/app:v1`, plainAccess);
    await expect(failure).rejects.toThrow(RegistryError);
    await expect(failure).rejects.toThrow(new RegExp(`^127\\.0\\.0\\.1:${port}/app:v1: https://127\\.0\\.0\\.1:${port}: connect ECONNREFUSED`));
    await expect(lookUpManifest('Not A Ref', plainAccess)).rejects.toThrow('"Not A Ref" is not an image reference');
  });

  test('content that does not match its digest is refused (a faulty registry: the fault proxy changes the bytes)', async () => {
    const altered = Buffer.from(index.bytes.toString('utf8').replace('"schemaVersion": 2', '"schemaVersion": 2 '));
    const headers = { 'Content-Type': ociIndex, 'Docker-Content-Digest': index.digest };
    const proxy = await FaultProxy.start(registry, [
      { method: 'GET', path: /\/manifests\//, times: Infinity, fault: { status: 200, body: altered.toString(), headers } },
    ]);
    try {
      await expect(lookUpManifest(`${proxy.host}/${index.repo}:v1`, plainAccess)).rejects.toThrow(
        new RegistryError(`${proxy.host}/${index.repo}:v1: the registry sent content with digest ${sha256(altered)}, not ${index.digest}`),
      );
      // Asked by digest, with no digest header: the bytes are checked against the digest asked for.
      proxy.setRules([
        { method: 'GET', path: /\/manifests\//, times: Infinity, fault: { status: 200, body: altered.toString(), headers: { 'Content-Type': ociIndex } } },
      ]);
      const byDigest = `${proxy.host}/${index.repo}@${index.digest}`;
      await expect(lookUpManifest(byDigest, plainAccess)).rejects.toThrow(
        new RegistryError(`${byDigest}: the registry sent content with digest ${sha256(altered)}, not ${index.digest}`),
      );
    } finally {
      await proxy.stop();
    }
  });
});

describe('imageLabels', () => {
  test("of an index: the first image's config, not the attestation listed before it", async () => {
    expect(await imageLabels(await lookUp(indexRef()), plainAccess)).toEqual(index.labels);
  });

  test('of a single manifest', async () => {
    expect(await imageLabels(await lookUp(`${registry}/${single.repo}:v1`), plainAccess)).toEqual(single.labels);
  });

  test('an index of attestations only (one known by its annotation, one by its unknown/unknown platform) has no labels to read', async () => {
    const attestation = defined(JSON.parse(index.bytes.toString('utf8')).manifests[0], 'the attestation') as Descriptor;
    const byAnnotation = { mediaType: attestation.mediaType, digest: attestation.digest, size: attestation.size, annotations: attestation.annotations };
    const byPlatform = { mediaType: attestation.mediaType, digest: attestation.digest, size: attestation.size, platform: attestation.platform };
    await uploadManifest(plain(registry), index.repo, 'attestations', ociIndex, { manifests: [byAnnotation, byPlatform] });
    const ref = `${registry}/${index.repo}:attestations`;
    await expect(imageLabels(await lookUp(ref), plainAccess)).rejects.toThrow(new RegistryError(`${ref}: the index has no image manifest, only attestations`));
  });
});

describe('putManifest on the same registry', () => {
  test('a target whose digest is not the manifest is refused', async () => {
    const target = `${registry}/${index.repo}@sha256:${'0'.repeat(64)}`;
    await expect(putManifest(await lookUp(indexRef()), target, plainAccess)).rejects.toThrow(
      new RegistryError(`${target}: the manifest to put is ${index.digest}`),
    );
  });

  test('a new tag in the same repository: one PUT of the index, the same digest, every child there', async () => {
    const proxy = await FaultProxy.start(registry);
    try {
      const manifest = await lookUp(`${proxy.host}/${index.repo}:v1`);
      const before = proxy.requests.length;
      await putManifest(manifest, `${proxy.host}/${index.repo}:copy`, plainAccess);
      expect(proxy.requests.slice(before).map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([`PUT /v2/${index.repo}/manifests/copy 201`]);
    } finally {
      await proxy.stop();
    }
    expect((await lookUp(`${registry}/${index.repo}:copy`)).digest).toBe(index.digest);
    await expectComplete(plain(registry), index.repo, 'copy', index);
  });

  test('another repository: blobs are mounted (nothing streamed), every child manifest and blob readable there', async () => {
    // A recording proxy in front of the registry, so the requests can be counted.
    const proxy = await FaultProxy.start(registry);
    try {
      const target = `e2e/distribution-${run}/mounted`;
      await putManifest(await lookUp(`${proxy.host}/${index.repo}:v1`), `${proxy.host}/${target}:v2`, plainAccess);
      await expectComplete(plain(registry), target, 'v2', index);
      const mounts = proxy.matching({ method: 'POST', path: /\/blobs\/uploads\/\?.*mount=/ });
      expect(mounts.map((r) => r.status)).toEqual(index.blobs.map(() => 201));
      expect(proxy.matching({ method: 'GET', path: /\/blobs\// })).toEqual([]);
      expect(proxy.matching({ method: 'PUT', path: /\/blobs\/uploads\// })).toEqual([]);
      // Children first (by digest), the index last (by tag).
      const puts = proxy.matching({ method: 'PUT', path: /\/manifests\// }).map((r) => r.path.replace(/^.*\/manifests\//, ''));
      expect(puts.slice(0, -1).sort()).toEqual([...index.children].sort());
      expect(puts.at(-1)).toBe('v2');
    } finally {
      await proxy.stop();
    }
  });
});

describe('putManifest to another registry', () => {
  let second: StartedRegistry;
  let proxy: FaultProxy;
  beforeAll(async () => {
    second = await startRegistry();
    proxy = await FaultProxy.start(second.host);
  });
  afterAll(async () => {
    await proxy?.stop();
    await second?.stop();
  });

  test('streams each blob once, then puts the children and the index; a second tag copies nothing', async () => {
    const target = `e2e/distribution-${run}/copied`;
    const manifest = await lookUp(indexRef());
    await putManifest(manifest, `${proxy.host}/${target}:v1`, plainAccess);
    await expectComplete(plain(second.host), target, 'v1', index);
    // The base layer both images share is uploaded once.
    const uploads = proxy.matching({ method: 'PUT', path: /\/blobs\/uploads\// }).map((r) => new URL(r.path, 'http://x').searchParams.get('digest'));
    expect(uploads.sort()).toEqual([...index.blobs].sort());
    expect(proxy.matching({ method: 'POST', path: /mount=/ })).toEqual([]);

    const before = proxy.requests.length;
    await putManifest(manifest, `${proxy.host}/${target}:v2`, plainAccess);
    const again = proxy.requests.slice(before);
    expect(again.filter((r) => r.method !== 'HEAD').map((r) => `${r.method} ${r.path}`)).toEqual([`PUT /v2/${target}/manifests/v2`]);
    await expectComplete(plain(second.host), target, 'v2', index);
  });

  test('a Docker v2 manifest keeps its media type', async () => {
    const target = `e2e/distribution-${run}/single`;
    await putManifest(await lookUp(`${registry}/${single.repo}:v1`), `${second.host}/${target}:v1`, plainAccess);
    await expectComplete(plain(second.host), target, 'v1', single);
  });
});

describe('timeouts and cancellation', () => {
  let silent: NetServer;
  let port: number;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    // Accepts connections and never says a word.
    silent = createNetServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    port = (silent.address() as AddressInfo).port;
  });
  afterAll(async () => {
    const closed = new Promise((resolve) => silent.close(resolve));
    for (const socket of sockets) socket.destroy();
    await closed;
  });

  test('a registry that does not answer within timeoutMs', async () => {
    const failure = lookUpManifest(`127.0.0.1:${port}/app:v1`, { ...plainAccess, timeoutMs: 300 });
    await expect(failure).rejects.toThrow(new RegistryError(`127.0.0.1:${port}/app:v1: https://127.0.0.1:${port}: no answer (timeout 0.3 s)`));
  });

  test('the signal aborts the request in flight', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 200);
    const failure = lookUpManifest(`127.0.0.1:${port}/app:v1`, { ...plainAccess, signal: controller.signal });
    await expect(failure).rejects.toMatchObject({ name: 'AbortError' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

// ---------------------------------------------------------------- Basic auth: a real registry with TLS, a client certificate and htpasswd

describe('a registry with TLS, a client certificate and htpasswd (Basic auth)', () => {
  let secured: StartedRegistry;
  let certsDir: string;
  let tls: { ca: string; cert: string; key: string };
  let helperLog: string;
  let helperPath: string;
  const target = `e2e/distribution-${run}/secured`;
  let secureImage: TestImage;

  function openssl(dir: string, name: string, subject: string, extra: string[]): void {
    const files = ['-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.pem`)];
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', subject, ...extra, ...files], { stdio: 'ignore' });
  }

  /**
   * docker-credential-<name>: answers `get` for the server `known` ("credentials not found" for
   * any other) and logs every call; other arguments, or more input than the server, fail loudly.
   */
  function writeHelper(dir: string, name: string, known: string): void {
    const script = `#!/bin/sh
if [ "$#" -ne 1 ] || [ "$1" != get ]; then
  echo "${name}: unexpected arguments: $*" >>'${helperLog}'
  exit 3
fi
IFS= read -r server || true
if IFS= read -r more || [ -n "$more" ]; then echo "${name}: unexpected input after the server: $more" >>'${helperLog}'; exit 3; fi
echo "${name} get $server" >>'${helperLog}'
case "$server" in
  '${known}') printf '{"ServerURL":"%s","Username":"tester","Secret":"s3cret-pass"}\\n' "$server" ;;
  *) echo 'credentials not found in native keychain'; exit 1 ;;
esac
`;
    writeFileSync(join(dir, `docker-credential-${name}`), script);
    chmodSync(join(dir, `docker-credential-${name}`), 0o755);
  }

  const helperCalls = () => (existsSync(helperLog) ? readFileSync(helperLog, 'utf8').trim().split('\n') : []);

  const access = (config: object, dir = certsDir): RegistryAccess => ({ dockerConfigDir: writeDockerConfig(config), env: { PATH: helperPath }, certsDir: dir });
  const authsAccess = (password: string) => access({ auths: { [secured.host]: { auth: basicAuth('tester', password) } } });
  const endpoint = (): Endpoint => ({ base: `https://${secured.host}`, tls, authorization: `Basic ${basicAuth('tester', 's3cret-pass')}` });

  beforeAll(async () => {
    const pki = scratchDir('distribution-pki-');
    openssl(pki, 'server', '/CN=127.0.0.1', ['-addext', 'subjectAltName=IP:127.0.0.1']);
    openssl(pki, 'client', '/CN=distribution-test-client', []);
    writeFileSync(join(pki, 'htpasswd'), execFileSync('htpasswd', ['-Bbn', 'tester', 's3cret-pass']));
    secured = await startRegistry([
      '  tls:',
      `    certificate: ${join(pki, 'server.pem')}`,
      `    key: ${join(pki, 'server.key')}`,
      '    clientcas:',
      `      - ${join(pki, 'client.pem')}`,
      'auth:',
      '  htpasswd:',
      '    realm: distribution-test',
      `    path: ${join(pki, 'htpasswd')}`,
    ]);
    certsDir = scratchDir('distribution-certs-');
    const hostDir = join(certsDir, secured.host);
    mkdirSync(hostDir);
    writeFileSync(join(hostDir, 'ca.crt'), readFileSync(join(pki, 'server.pem')));
    writeFileSync(join(hostDir, 'client.cert'), readFileSync(join(pki, 'client.pem')));
    writeFileSync(join(hostDir, 'client.key'), readFileSync(join(pki, 'client.key')));
    tls = {
      ca: readFileSync(join(pki, 'server.pem'), 'utf8'),
      cert: readFileSync(join(pki, 'client.pem'), 'utf8'),
      key: readFileSync(join(pki, 'client.key'), 'utf8'),
    };
    helperPath = scratchDir('distribution-helpers-');
    helperLog = join(helperPath, 'calls.log');
    writeHelper(helperPath, 'test', secured.host);
    writeHelper(helperPath, 'other', `other-${secured.host}`);
    secureImage = await uploadIndex(endpoint(), target, 'v1');
  });
  afterAll(async () => {
    await secured?.stop();
  });

  test('credentials from auths: an index copied in from another registry, complete', async () => {
    await putManifest(await lookUp(indexRef()), `${secured.host}/${target}-copied:v1`, authsAccess('s3cret-pass'));
    await expectComplete(endpoint(), `${target}-copied`, 'v1', index);
  });

  test('credentials from a credential helper (credHelpers), run once per call', async () => {
    const before = helperCalls().length;
    const helperAccess = access({ credHelpers: { [secured.host]: 'test' }, auths: { [secured.host]: { auth: basicAuth('tester', 'wrong') } } });
    const found = await lookUp(`${secured.host}/${target}:v1`, helperAccess);
    expect(found.digest).toBe(secureImage.digest);
    expect(helperCalls().slice(before)).toEqual([`test get ${secured.host}`]);
    expect(await imageLabels(found, helperAccess)).toEqual(secureImage.labels);
    expect(helperCalls().slice(before)).toEqual([`test get ${secured.host}`, `test get ${secured.host}`]);
  });

  test('a credsStore that has no credentials for the registry (over auths that have): anonymous, refused, saying so', async () => {
    const before = helperCalls().length;
    const storeAccess = access({ credsStore: 'other', auths: { [secured.host]: { auth: basicAuth('tester', 's3cret-pass') } } });
    const failure = lookUpManifest(`${secured.host}/${target}:v1`, storeAccess);
    await expect(failure).rejects.toThrow(
      new RegistryError(
        `${secured.host}/${target}:v1: UNAUTHORIZED: authentication required (HTTP 401; no credentials for ${secured.host} in docker-credential-other)`,
      ),
    );
    expect(helperCalls().slice(before)).toEqual([`other get ${secured.host}`]);
  });

  test('a wrong password: a RegistryError naming the credentials used, not the password', async () => {
    const wrong = authsAccess('wr0ng-pass');
    const failure = lookUpManifest(`${secured.host}/${target}:v1`, wrong);
    await expect(failure).rejects.toThrow(
      new RegistryError(
        `${secured.host}/${target}:v1: UNAUTHORIZED: authentication required (HTTP 401; credentials from auths in ${join(wrong.dockerConfigDir, 'config.json')})`,
      ),
    );
    await expect(failure).rejects.toMatchObject({ status: 401, codes: ['UNAUTHORIZED'] });
  });

  test('a missing credential helper is a RegistryError', async () => {
    await expect(lookUpManifest(`${secured.host}/${target}:v1`, access({ credHelpers: { [secured.host]: 'absent' } }))).rejects.toThrow(
      /^docker-credential-absent \(named in .*config\.json\) is not on PATH$/,
    );
  });

  test('the CA and the client certificate come from certsDir; without them the TLS handshake fails clearly (no fallback to HTTP)', async () => {
    const credentials = { auths: { [secured.host]: { auth: basicAuth('tester', 's3cret-pass') } } };
    await expect(lookUpManifest(`${secured.host}/${target}:v1`, access(credentials, scratchDir('distribution-no-certs-')))).rejects.toThrow(
      new RegExp(`^${secured.host}/${target}:v1: https://${secured.host}: self-signed certificate \\(a CA for it goes in .*/${secured.host}/ca\\.crt\\)$`),
    );
    const caOnly = scratchDir('distribution-ca-only-');
    mkdirSync(join(caOnly, secured.host));
    writeFileSync(join(caOnly, secured.host, 'ca.crt'), tls.ca);
    const failure = lookUpManifest(`${secured.host}/${target}:v1`, access(credentials, caOnly));
    await expect(failure).rejects.toThrow(RegistryError);
    // Go's TLS server refuses a client without a certificate with the alert "bad certificate" (or, in TLS 1.3, "certificate required").
    await expect(failure).rejects.toThrow(
      new RegExp(
        `^${secured.host}/${target}:v1: https://${secured.host}: TLS: \\S+ alert (bad certificate|certificate required) \\(the registry wants a client certificate it trusts: ${caOnly}/${secured.host}/client\\.cert and client\\.key\\)$`,
      ),
    );
  });
});

// ---------------------------------------------------------------- Bearer tokens: a strict stand-in token server + auth proxy in front of the real registry

/** What a token grants: repository → actions. */
type Grant = Map<string, Set<string>>;

/**
 * The one stand-in: distribution's token auth, as Docker Hub or Harbor do it. A token server
 * (GET /token with Basic credentials, or POST with an OAuth refresh token) and a proxy that
 * answers 401 with a Bearer challenge unless the request carries a token it issued whose
 * grant covers the request, then passes it to the real registry. Anything it does not expect
 * is a 500 and is recorded in `unexpected`.
 */
class TokenAuthProxy {
  readonly unexpected: string[] = [];
  readonly tokenRequests: Array<{ method: string; scopes: string[]; by: string }> = [];
  readonly requests: Array<{ method: string; path: string; status: number }> = [];
  /** Whether to pass `mount` on (false: a registry that does not mount, answering 202 with an upload). */
  mount = true;
  tokenField: 'token' | 'access_token' = 'token';
  private readonly tokens = new Map<string, Grant>();
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly upstream: string,
    private readonly user: { name: string; password: string; identityToken: string },
  ) {
    this.server = http.createServer((req, res) => {
      try {
        this.handle(req, res);
      } catch (err) {
        this.fail(res, `${req.method} ${req.url}: ${(err as Error).message}`);
      }
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  get host(): string {
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }

  private fail(res: http.ServerResponse, what: string): void {
    this.unexpected.push(what);
    if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
    res.end(`stand-in: unexpected ${what}\n`);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    if (url.pathname === '/token') return this.token(req, res, url);
    const needs = this.needs(req.method ?? '', url);
    if (!needs) return this.fail(res, `request ${req.method} ${req.url}`);
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const grant = token === undefined ? undefined : this.tokens.get(token);
    if (req.headers.authorization !== undefined && !grant) return this.fail(res, `authorization on ${req.method} ${req.url}: not a token this server issued`);
    const covered = grant !== undefined && [...needs].every(([repo, actions]) => [...actions].every((action) => grant.get(repo)?.has(action)));
    if (!covered) {
      const scope = [...needs].map(([repo, actions]) => `repository:${repo}:${[...actions].join(',')}`).join(' ');
      req.resume();
      this.requests.push({ method: req.method ?? '', path: req.url ?? '', status: 401 });
      res.writeHead(401, {
        'Content-Type': 'application/json',
        'WWW-Authenticate': `Bearer realm="http://${this.host}/token",service="stand-in-registry",scope="${scope}"`,
      });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      return;
    }
    if (!this.mount) for (const key of ['mount', 'from']) url.searchParams.delete(key);
    this.pass(req, res, `${url.pathname}${url.search}`);
  }

  /** The repositories and actions a request needs, as distribution's token auth asks for them; undefined for anything else. */
  private needs(method: string, url: URL): Grant | undefined {
    if (url.pathname === '/v2/' && method === 'GET') return new Map();
    const match = /^\/v2\/(.+?)\/(manifests\/[^/]+|blobs\/sha256:[a-f0-9]{64}|blobs\/uploads\/[^/]*)$/.exec(url.pathname);
    if (!match) return undefined;
    const repo = match[1] as string;
    const upload = (match[2] as string).startsWith('blobs/uploads/');
    if ((method === 'GET' || method === 'HEAD') && !upload) return new Map([[repo, new Set(['pull'])]]);
    if (method !== 'POST' && method !== 'PUT' && method !== 'PATCH') return undefined;
    const needs: Grant = new Map([[repo, new Set(['pull', 'push'])]]);
    const from = url.searchParams.get('from');
    if (method === 'POST' && from !== null) needs.set(from, new Set([...(needs.get(from) ?? []), 'pull']));
    return needs;
  }

  private token(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      let scopes: string[];
      let by: string;
      if (req.method === 'GET') {
        const keys = [...new Set(url.searchParams.keys())].sort();
        if (keys.join() !== 'scope,service' || url.searchParams.get('service') !== 'stand-in-registry') return this.fail(res, `token query ${url.search}`);
        scopes = url.searchParams.getAll('scope');
        by = req.headers.authorization === `Basic ${basicAuth(this.user.name, this.user.password)}` ? this.user.name : 'anonymous';
        if (by === 'anonymous' && req.headers.authorization !== undefined) by = 'wrong password';
      } else if (req.method === 'POST' && req.headers['content-type'] === 'application/x-www-form-urlencoded') {
        const keys = [...form.keys()].sort().join();
        if (
          keys !== 'client_id,grant_type,refresh_token,scope,service' ||
          form.get('grant_type') !== 'refresh_token' ||
          form.get('service') !== 'stand-in-registry'
        ) {
          return this.fail(res, `token form keys ${keys}`);
        }
        scopes = (form.get('scope') ?? '').split(' ');
        by = form.get('refresh_token') === this.user.identityToken ? 'identity token' : 'wrong identity token';
      } else {
        return this.fail(res, `token request ${req.method} ${req.headers['content-type']}`);
      }
      const grant: Grant = new Map();
      for (const scope of scopes) {
        const match = /^repository:([a-z0-9._/-]+):((?:pull|push)(?:,(?:pull|push))*)$/.exec(scope);
        if (!match) return this.fail(res, `token scope ${JSON.stringify(scope)}`);
        grant.set(match[1] as string, new Set([...(grant.get(match[1] as string) ?? []), ...(match[2] as string).split(',')]));
      }
      this.tokenRequests.push({ method: req.method ?? '', scopes, by });
      if (by !== this.user.name && by !== 'identity token') {
        res.writeHead(401, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: `token refused (${by})` }] }));
        return;
      }
      const token = randomBytes(16).toString('hex');
      this.tokens.set(token, grant);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ [this.tokenField]: token, expires_in: 300 }));
    });
  }

  private pass(req: http.IncomingMessage, res: http.ServerResponse, path: string): void {
    const [hostname, port] = this.upstream.split(':');
    const headers = { ...req.headers };
    delete headers.authorization;
    const upstream = http.request({ host: hostname, port: Number(port), method: req.method, path, headers, agent: false }, (answer) => {
      this.requests.push({ method: req.method ?? '', path, status: answer.statusCode ?? 0 });
      res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
      answer.pipe(res);
    });
    upstream.on('error', (err) => this.fail(res, `upstream: ${err.message}`));
    req.pipe(upstream);
  }
}

describe('Bearer token auth (a stand-in token server and auth proxy in front of the real registry)', () => {
  let proxy: TokenAuthProxy;
  const user = { name: 'robot', password: 'p4ss-w0rd', identityToken: 'refresh-t0ken' };
  const target = `e2e/distribution-${run}/bearer`;
  let image: TestImage;
  const withPassword = () => ({
    dockerConfigDir: writeDockerConfig({ auths: { [proxy.host]: { auth: basicAuth(user.name, user.password) } } }),
    env: { PATH: '' },
  });

  beforeAll(async () => {
    proxy = await new TokenAuthProxy(registry, user).start();
    // Straight into the registry behind the proxy.
    image = await uploadIndex(plain(registry), target, 'v1');
  });
  afterEach(() => {
    expect(proxy.unexpected).toEqual([]);
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  test('pushes with a pull,push token got with Basic credentials, one token per scope for the call', async () => {
    const pushed = `${target}-pushed`;
    await putManifest(await lookUp(indexRef()), `${proxy.host}/${pushed}:v1`, withPassword());
    expect(proxy.tokenRequests).toEqual([{ method: 'GET', scopes: [`repository:${pushed}:pull,push`], by: user.name }]);
    expect(proxy.requests.filter((r) => r.status === 401).length).toBe(1);
    await expectComplete(plain(registry), pushed, 'v1', index);
  });

  test('looks up and reads labels with pull tokens; an `access_token` answer works too', async () => {
    proxy.tokenField = 'access_token';
    proxy.tokenRequests.length = 0;
    const access = withPassword();
    const found = await lookUp(`${proxy.host}/${target}:v1`, access);
    expect(found.digest).toBe(image.digest);
    expect(await imageLabels(found, access)).toEqual(image.labels);
    expect(proxy.tokenRequests).toEqual([
      { method: 'GET', scopes: [`repository:${target}:pull`], by: user.name },
      { method: 'GET', scopes: [`repository:${target}:pull`], by: user.name },
    ]);
    proxy.tokenField = 'token';
  });

  test('an identity token (a helper answering the `<token>` user) is exchanged with the OAuth form', async () => {
    const helpers = scratchDir('distribution-token-helper-');
    writeFileSync(
      join(helpers, 'docker-credential-idtoken'),
      `#!/bin/sh\n[ "$*" = get ] || exit 3\nprintf '{"ServerURL":"x","Username":"<token>","Secret":"${user.identityToken}"}'\n`,
    );
    chmodSync(join(helpers, 'docker-credential-idtoken'), 0o755);
    proxy.tokenRequests.length = 0;
    const access = { dockerConfigDir: writeDockerConfig({ credHelpers: { [proxy.host]: 'idtoken' } }), env: { PATH: helpers } };
    expect((await lookUp(`${proxy.host}/${target}:v1`, access)).digest).toBe(image.digest);
    expect(proxy.tokenRequests).toEqual([{ method: 'POST', scopes: [`repository:${target}:pull`], by: 'identity token' }]);
  });

  test('another repository: the mount asks one token for both repositories, and the blobs are mounted', async () => {
    const mounted = `e2e/distribution-${run}/bearer-mounted`;
    const access = withPassword();
    const manifest = await lookUp(`${proxy.host}/${target}:v1`, access);
    proxy.tokenRequests.length = 0;
    proxy.requests.length = 0;
    await putManifest(manifest, `${proxy.host}/${mounted}:v1`, access);
    expect(proxy.tokenRequests).toEqual([
      { method: 'GET', scopes: [`repository:${mounted}:pull,push`], by: user.name },
      { method: 'GET', scopes: [`repository:${target}:pull`], by: user.name },
      { method: 'GET', scopes: [`repository:${mounted}:pull,push`, `repository:${target}:pull`], by: user.name },
    ]);
    expect(proxy.requests.filter((r) => r.method === 'POST' && r.status !== 401).map((r) => r.status)).toEqual(image.blobs.map(() => 201));
    expect(proxy.requests.filter((r) => r.method === 'GET' && r.path.includes('/blobs/'))).toEqual([]);
    await expectComplete(plain(registry), mounted, 'v1', image);
  });

  test('a registry that does not mount (202): each blob is streamed from the source repository', async () => {
    const streamed = `e2e/distribution-${run}/bearer-streamed`;
    proxy.mount = false;
    proxy.requests.length = 0;
    try {
      const access = withPassword();
      await putManifest(await lookUp(`${proxy.host}/${target}:v1`, access), `${proxy.host}/${streamed}:v1`, access);
    } finally {
      proxy.mount = true;
    }
    const gets = proxy.requests.filter((r) => r.method === 'GET' && r.path.startsWith(`/v2/${target}/blobs/`)).map((r) => r.path.replace(/^.*\/blobs\//, ''));
    expect(gets.sort()).toEqual([...image.blobs].sort());
    const uploads = proxy.requests.filter((r) => r.method === 'PUT' && r.path.startsWith(`/v2/${streamed}/blobs/uploads/`));
    expect(uploads.map((r) => r.status)).toEqual(image.blobs.map(() => 201));
    await expectComplete(plain(registry), streamed, 'v1', image);
  });

  test('no credentials: the token server refuses, and the error says so', async () => {
    const failure = lookUpManifest(`${proxy.host}/${target}:v1`, plainAccess);
    await expect(failure).rejects.toThrow(
      new RegistryError(
        `${proxy.host}/${target}:v1: token from http://${proxy.host}/token: UNAUTHORIZED: token refused (anonymous) (HTTP 401; no credentials for ${proxy.host} in ${join(emptyConfig, 'config.json')})`,
      ),
    );
  });

  test('a wrong password: the token server refuses, naming the credentials, not the password', async () => {
    const access = { dockerConfigDir: writeDockerConfig({ auths: { [proxy.host]: { username: user.name, password: 'nope-nope' } } }), env: { PATH: '' } };
    const failure = lookUpManifest(`${proxy.host}/${target}:v1`, access);
    await expect(failure).rejects.toThrow(
      new RegistryError(
        `${proxy.host}/${target}:v1: token from http://${proxy.host}/token: UNAUTHORIZED: token refused (wrong password) (HTTP 401; credentials from auths in ${join(access.dockerConfigDir, 'config.json')})`,
      ),
    );
  });
});

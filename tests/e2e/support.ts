import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { scratchDir } from '../support/scratch';
import { defined } from '../support/defined';
import { manifestTypes } from './media-types';

export const root = resolve(__dirname, '..', '..');
export { scratchDir };

/** sha256 (hex) of a value, as the buildkite-agent stand-in records redactions. */
export const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

/** The registry started by scripts/with-engine.sh; the e2e suite runs only under it. */
export function testRegistry(): string {
  const registry = process.env.BUILDKIT_TEST_REGISTRY;
  if (!registry || !process.env.DOCKER_HOST) {
    throw new Error('run the e2e tests through scripts/with-engine.sh (npm test does)');
  }
  return registry;
}

/** A fresh checkout of the fixture app, with a static busybox in its context. */
export function checkout(): string {
  const dir = scratchDir('buildkit-e2e-app-');
  cpSync(join(root, 'tests', 'fixtures', 'app'), dir, { recursive: true });
  const busybox = process.env.BUILDKIT_TEST_BUSYBOX ?? '/bin/busybox';
  if (!existsSync(busybox)) throw new Error(`no static busybox at ${busybox} (Debian: busybox-static)`);
  copyFileSync(busybox, join(dir, 'busybox'));
  return dir;
}

export interface Step {
  key?: string;
  label?: string;
  command?: string;
  config: Record<string, unknown>;
}

export interface StepRun {
  code: number;
  output: string;
  /** With `cancelWhen`: how long the job took to end after the cancel, in ms. */
  cancelToEndMs?: number;
  result: { code: number; hookMs: Record<string, number>; metaData: Record<string, string>; annotations: Record<string, string>; redactions: string[] };
}

/** Runs a step with the local runner (dist/cli.js), the agent model of this repository. */
export async function runPipelineStep(
  dir: string,
  step: Step,
  options: {
    env?: Record<string, string>;
    form?: string;
    extraArgs?: string[];
    processEnv?: Record<string, string>;
    /** Cancel the job (SIGTERM to the runner, which cancels as the agent does) once the log matches. */
    cancelWhen?: RegExp;
  } = {},
): Promise<StepRun> {
  const pipeline = join(dir, 'pipeline.yml');
  const { config, ...rest } = step;
  writeFileSync(pipeline, JSON.stringify({ steps: [{ ...rest, plugins: [{ 'buildkit#v1': config }] }] }));
  const args = [join(root, 'dist', 'cli.js'), 'run', '--pipeline', pipeline, '--dir', dir, '--json', '--config-form', options.form ?? 'both'];
  for (const [k, v] of Object.entries(options.env ?? {})) args.push('--env', `${k}=${v}`);
  args.push(...(options.extraArgs ?? []));
  return new Promise((done) => {
    const child = spawn(process.execPath, args, { cwd: dir, env: { ...process.env, TMPDIR: dir, ...options.processEnv } });
    let output = '';
    let cancelSentAt: number | undefined;
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      if (options.cancelWhen && cancelSentAt === undefined && options.cancelWhen.test(output)) {
        cancelSentAt = Date.now();
        child.kill('SIGTERM');
      }
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('close', (code) => {
      const last = output.trim().split('\n').pop() ?? '';
      let result: StepRun['result'];
      try {
        result = JSON.parse(last);
      } catch {
        result = { code: code ?? -1, hookMs: {}, metaData: {}, annotations: {}, redactions: [] };
      }
      done({ code: code ?? -1, output, result, cancelToEndMs: cancelSentAt === undefined ? undefined : Date.now() - cancelSentAt });
    });
  });
}

/** What the registry serves for repo:tag: its digest and the image config (labels, ...). */
export async function registryImage(
  registry: string,
  repo: string,
  tag: string,
): Promise<{ digest: string; config: { config?: { Labels?: Record<string, string> } } } | undefined> {
  const base = `http://${registry}/v2/${repo}`;
  const response = await fetch(`${base}/manifests/${tag}`, { headers: { Accept: manifestTypes } });
  if (response.status === 404) return undefined;
  if (!response.ok) throw new Error(`registry: ${response.status} for ${repo}:${tag}`);
  const digest = response.headers.get('docker-content-digest') as string;
  let manifest = (await response.json()) as {
    manifests?: Array<{ digest: string; platform?: { os: string; architecture: string } }>;
    config?: { digest: string };
  };
  if (manifest.manifests) {
    const image = defined(manifest.manifests.find((m) => m.platform?.os !== 'unknown') ?? manifest.manifests[0], 'an image in the index');
    manifest = await (await fetch(`${base}/manifests/${image.digest}`, { headers: { Accept: manifestTypes } })).json();
  }
  const config = await (await fetch(`${base}/blobs/${manifest.config?.digest}`)).json();
  return { digest, config };
}

/** Fails with the step's whole log when it did not exit 0. */
export function expectSuccess(run: StepRun): void {
  if (run.code !== 0) throw new Error(`the step exited ${run.code}:\n${run.output}`);
}

// ---------------------------------------------------------------- outputs, platforms, metadata

/** The classic (overlay2) engine of scripts/with-engine.sh (WITH_CLASSIC_ENGINE=1). */
export function classicDockerHost(): string {
  const host = process.env.BUILDKIT_TEST_CLASSIC_DOCKER_HOST;
  if (!host) throw new Error('these tests need the classic engine too: WITH_CLASSIC_ENGINE=1 bash scripts/with-engine.sh ... (npm test sets it)');
  return host;
}

/** `docker` against the engine at `host`; its stdout. Throws with stderr when it fails. */
export function dockerAt(host: string, args: string[]): string {
  return execFileSync('docker', args, { env: { ...process.env, DOCKER_HOST: host }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The static arm64 busybox that scripts/install-deps.sh puts there. */
export const arm64Busybox = '/var/cache/buildkit-plugin-tests/busybox-arm64';

/** A fresh checkout of tests/fixtures/multiarch with busybox-amd64 and busybox-arm64; needs QEMU for arm64. */
export function multiarchCheckout(): string {
  const missing: string[] = [];
  if (!existsSync(arm64Busybox)) missing.push(`no static arm64 busybox at ${arm64Busybox}`);
  if (!existsSync('/proc/sys/fs/binfmt_misc/qemu-aarch64')) missing.push('no qemu-aarch64 binfmt_misc handler (qemu-user-static)');
  if (missing.length > 0) throw new Error(`${missing.join('; ')}: run scripts/install-deps.sh as root`);
  const dir = scratchDir('buildkit-e2e-multiarch-');
  cpSync(join(root, 'tests', 'fixtures', 'multiarch'), dir, { recursive: true });
  copyFileSync(process.env.BUILDKIT_TEST_BUSYBOX ?? '/bin/busybox', join(dir, 'busybox-amd64'));
  copyFileSync(arm64Busybox, join(dir, 'busybox-arm64'));
  return dir;
}

/** The commands a `dry-run: true` step printed, one per line (hooks print them shell-quoted). */
export function plannedCommands(output: string): string[] {
  return output.split('\n').filter((line) => /^docker (buildx )?\w/.test(line));
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

export interface Manifest {
  mediaType?: string;
  manifests?: Descriptor[];
  config?: Descriptor;
  layers?: Descriptor[];
  annotations?: Record<string, string>;
}

/** repo:reference (tag or digest) as the registry serves it, asking for OCI and Docker types. */
export async function registryManifest(
  registry: string,
  repo: string,
  reference: string,
): Promise<{ digest: string; contentType: string; manifest: Manifest }> {
  const response = await fetch(`http://${registry}/v2/${repo}/manifests/${reference}`, { headers: { Accept: manifestTypes } });
  if (!response.ok) throw new Error(`registry: ${response.status} for ${repo}@${reference}`);
  return {
    digest: response.headers.get('docker-content-digest') as string,
    contentType: response.headers.get('content-type') ?? '',
    manifest: (await response.json()) as Manifest,
  };
}

/** A blob of repo, checked against its digest. */
export async function registryBlob(registry: string, repo: string, digest: string): Promise<Buffer> {
  const response = await fetch(`http://${registry}/v2/${repo}/blobs/${digest}`);
  if (!response.ok) throw new Error(`registry: ${response.status} for blob ${digest} of ${repo}`);
  const blob = Buffer.from(await response.arrayBuffer());
  const actual = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
  if (actual !== digest) throw new Error(`registry: blob ${digest} of ${repo} hashes to ${actual}`);
  return blob;
}

/** The image manifests of an index, by `os/arch`, leaving out attestation manifests (`unknown/unknown`). */
export function platformManifests(index: Manifest): Record<string, Descriptor> {
  const result: Record<string, Descriptor> = {};
  for (const m of index.manifests ?? []) {
    if (m.platform && m.platform.os !== 'unknown') result[`${m.platform.os}/${m.platform.architecture}`] = m;
  }
  return result;
}

/** One file from a tar archive (gzip or not, a path or the archive's bytes), read with tar(1); undefined when absent. */
export function tarMember(archive: string | Buffer, member: string): Buffer | undefined {
  if (!Buffer.isBuffer(archive)) {
    const names = execFileSync('tar', ['-tf', archive], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n');
    const name = names.find((n) => n === member || n === `./${member}`);
    return name === undefined ? undefined : execFileSync('tar', ['-xOf', archive, name], { maxBuffer: 64 << 20 });
  }
  const dir = mkdtempSync(join(tmpdir(), 'buildkit-e2e-tar-'));
  try {
    writeFileSync(join(dir, 'archive'), archive);
    return tarMember(join(dir, 'archive'), member);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The first layer of an image manifest (newest first) that holds `member`, and that file. */
export async function fileInImage(registry: string, repo: string, manifest: Manifest, member: string): Promise<Buffer | undefined> {
  for (const layer of [...(manifest.layers ?? [])].reverse()) {
    const file = tarMember(await registryBlob(registry, repo, layer.digest), member);
    if (file !== undefined) return file;
  }
  return undefined;
}

/** The command hook refused a build the classic image store cannot do, naming both fixes, and built nothing. */
export function expectClassicStoreRefusal(run: StepRun, what: string): void {
  expect(run.code).toBe(1);
  expect(run.result.hookMs.environment).toBeDefined();
  expect(run.result.hookMs.command).toBeDefined();
  expect(run.output).toContain(
    `buildkit: error: builder.driver: the Docker engine's classic image store cannot do ${what}. Either enable the containerd image store on the agent ` +
      '(daemon.json: {"features":{"containerd-snapshotter":true}}), or let the plugin use a per-job builder (builder.driver: auto or docker-container)',
  );
  expect(run.output).not.toContain('docker buildx build');
}

import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const root = resolve(__dirname, '..', '..');

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
  const dir = mkdtempSync(join(tmpdir(), 'buildkit-e2e-app-'));
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
  result: { code: number; hookMs: Record<string, number>; metaData: Record<string, string>; annotations: Record<string, string> };
}

/** Runs a step with the local runner (dist/cli.js), the agent model of this repository. */
export async function runPipelineStep(dir: string, step: Step, options: { env?: Record<string, string>; form?: string; extraArgs?: string[] } = {}): Promise<StepRun> {
  const pipeline = join(dir, 'pipeline.yml');
  const { config, ...rest } = step;
  writeFileSync(pipeline, JSON.stringify({ steps: [{ ...rest, plugins: [{ 'buildkit#v1': config }] }] }));
  const args = [join(root, 'dist', 'cli.js'), 'run', '--pipeline', pipeline, '--dir', dir, '--json', '--config-form', options.form ?? 'both'];
  for (const [k, v] of Object.entries(options.env ?? {})) args.push('--env', `${k}=${v}`);
  args.push(...(options.extraArgs ?? []));
  return new Promise((done) => {
    const child = spawn(process.execPath, args, { cwd: dir, env: { ...process.env, TMPDIR: dir } });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('close', (code) => {
      const last = output.trim().split('\n').pop() ?? '';
      let result: StepRun['result'];
      try {
        result = JSON.parse(last);
      } catch {
        result = { code: code ?? -1, hookMs: {}, metaData: {}, annotations: {} };
      }
      done({ code: code ?? -1, output, result });
    });
  });
}

const manifestTypes = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** What the registry serves for repo:tag: its digest and the image config (labels, ...). */
export async function registryImage(registry: string, repo: string, tag: string): Promise<{ digest: string; config: { config?: { Labels?: Record<string, string> } } } | undefined> {
  const base = `http://${registry}/v2/${repo}`;
  const response = await fetch(`${base}/manifests/${tag}`, { headers: { Accept: manifestTypes } });
  if (response.status === 404) return undefined;
  if (!response.ok) throw new Error(`registry: ${response.status} for ${repo}:${tag}`);
  const digest = response.headers.get('docker-content-digest') as string;
  let manifest = (await response.json()) as { manifests?: Array<{ digest: string; platform?: { os: string; architecture: string } }>; config?: { digest: string } };
  if (manifest.manifests) {
    const image = manifest.manifests.find((m) => m.platform?.os !== 'unknown') ?? manifest.manifests[0];
    manifest = await (await fetch(`${base}/manifests/${image.digest}`, { headers: { Accept: manifestTypes } })).json();
  }
  const config = await (await fetch(`${base}/blobs/${manifest.config?.digest}`)).json();
  return { digest, config };
}

/** Fails with the step's whole log when it did not exit 0. */
export function expectSuccess(run: StepRun): void {
  if (run.code !== 0) throw new Error(`the step exited ${run.code}:\n${run.output}`);
}

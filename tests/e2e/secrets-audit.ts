import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { daemonlessTempDirs } from './buildkitd';
import { Manifest, registryBlob, registryManifest, root, scratchDir } from './support';

/**
 * The secrets audit: a build that reads one secret of each kind, then a search for every
 * value wherever the job could have put it, and a census of what a cancelled job leaves.
 * tests/e2e/secrets.test.ts runs it; scripts/secrets-audit.sh runs it 20 times per engine.
 */

export interface SecretValues {
  env: string;
  file: string;
  agent: string;
}

/** Distinct values no build would produce by chance. */
export function newSecretValues(): SecretValues {
  const value = (kind: string) => `${kind}-${randomBytes(12).toString('hex')}`;
  return { env: value('env-secret'), file: value('file-secret'), agent: value('agent-secret') };
}

/** The build context in app/ (the fixture and a static busybox); the file secret outside it, in creds/. */
export function secretsCheckout(values: SecretValues): string {
  const dir = scratchDir('buildkit-e2e-secrets-');
  cpSync(join(root, 'tests', 'fixtures', 'secrets'), join(dir, 'app'), { recursive: true });
  copyFileSync(process.env.BUILDKIT_TEST_BUSYBOX ?? '/bin/busybox', join(dir, 'app', 'busybox'));
  mkdirSync(join(dir, 'creds'));
  writeFileSync(join(dir, 'creds', 'file-secret'), values.file, { mode: 0o600 });
  return dir;
}

/** The plugin configuration for the fixture: one secret of each kind; the job variable and Buildkite secret to go with it. */
export function secretsStep(values: SecretValues, target = 'secrets') {
  return {
    config: {
      context: 'app',
      target,
      network: 'none',
      secrets: [
        { id: 'env-secret', env: 'APP_ENV_SECRET' },
        { id: 'file-secret', file: 'creds/file-secret' },
        { id: 'agent-secret', 'buildkite-secret': 'app_agent_secret' },
      ],
    },
    env: { APP_ENV_SECRET: values.env },
    extraArgs: ['--agent-secret', `app_agent_secret=${values.agent}`],
  };
}

export interface Haystack {
  where: string;
  data: Buffer;
}

/** "where: which secret" for every value found, as is or base64-encoded. */
export function findLeaks(haystacks: Haystack[], values: SecretValues): string[] {
  const leaks: string[] = [];
  for (const { where, data } of haystacks) {
    for (const [kind, value] of Object.entries(values)) {
      if ([value, Buffer.from(value).toString('base64')].some((form) => data.includes(form))) leaks.push(`${where}: the ${kind} secret`);
    }
  }
  return leaks;
}

/** Every blob of the pushed image: index, manifests, configs (history), layers (unpacked) and attestations. */
export async function imageBlobs(registry: string, repo: string, reference: string): Promise<Haystack[]> {
  const blobs: Haystack[] = [];
  const visit = async (ref: string): Promise<void> => {
    const { manifest } = await registryManifest(registry, repo, ref);
    blobs.push({ where: `manifest ${ref}`, data: Buffer.from(JSON.stringify(manifest)) });
    for (const child of manifest.manifests ?? []) await visit(child.digest);
    for (const blob of [manifest.config, ...(manifest.layers ?? [])].filter((b): b is NonNullable<Manifest['config']> => b !== undefined)) {
      const data = await registryBlob(registry, repo, blob.digest);
      blobs.push({ where: `${blob.mediaType} ${blob.digest}`, data: data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data) : data });
    }
  };
  await visit(reference);
  return blobs;
}

/** Every regular file under dir (but `except`), as a haystack. */
export function filesUnder(dir: string, except: string[] = []): Haystack[] {
  if (!existsSync(dir)) return [];
  return walk(dir)
    .filter((file) => !except.includes(file) && lstatSync(file).isFile())
    .map((file) => ({ where: file, data: readFileSync(file) }));
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? [path, ...walk(path)] : [path];
  });
}

/** Processes, builders and containers, to compare before and after a job. */
export interface Census {
  processes: Map<string, string>;
  builders: string[];
  containers: string[];
  daemonlessTemp: string[];
}

/** What a job of this plugin may start: its hooks, the clients, the daemons, the build's own commands. */
const jobProcess = /buildctl|buildx|buildkitd|rootlesskit|sleep 60|buildkite-agent|\/hooks\/|dist\/(environment|command|pre-exit)\.js/;

export function census(): Census {
  const processes = new Map<string, string>();
  for (const line of execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).split('\n')) {
    const [, pid, args] = /^\s*(\d+)\s+(.*)$/.exec(line) ?? [];
    if (pid && args && jobProcess.test(args) && !args.startsWith('ps ')) processes.set(pid, args);
  }
  const lines = (argv: string[]) => execFileSync('docker', argv, { encoding: 'utf8' }).split('\n').filter(Boolean);
  return {
    processes,
    builders: lines(['buildx', 'ls', '--format', '{{.Name}}']),
    containers: lines(['ps', '-a', '--format', '{{.Names}}']),
    daemonlessTemp: daemonlessTempDirs(),
  };
}

/**
 * What the job left: processes, builders, containers and daemonless temp dirs that were not
 * there before, anything in its state dirs, secret files, and files holding a secret value
 * under the job's TMPDIR (its checkout's own secret aside). A build process gets the agent's
 * grace period (10 s) to go: on the Docker engine, BuildKit stops a cancelled RUN after buildx
 * has exited, typically 1-2 s later. `lingerMs` says how long the last one took.
 */
export async function leftovers(before: Census, dir: string, values: SecretValues): Promise<{ problems: string[]; lingerMs: number }> {
  let after = census();
  const newProcesses = (c: Census) => [...c.processes].filter(([pid, args]) => before.processes.get(pid) !== args);
  const started = Date.now();
  while (newProcesses(after).length > 0 && Date.now() - started < 10_000) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    after = census();
  }
  const lingerMs = Date.now() - started;
  const added = (key: 'builders' | 'containers' | 'daemonlessTemp') =>
    after[key].filter((name) => !before[key].includes(name)).map((name) => `${key}: ${name}`);
  const stateRoots = readdirSync(dir).filter((name) => name.startsWith('buildkite-plugin-buildkit-'));
  const inStateDirs = stateRoots.flatMap((name) => walk(join(dir, name))).map((path) => `state dir: ${relative(dir, path)}`);
  const secretFiles = walk(dir)
    .filter((path) => /(^|\/)secret-[^/]*$/.test(path))
    .map((path) => `secret file: ${relative(dir, path)}`);
  const holding = findLeaks(filesUnder(dir, [join(dir, 'creds', 'file-secret')]), values).map((leak) => `file holding ${leak.replace(`${dir}/`, '')}`);
  const problems = [
    ...newProcesses(after).map(([pid, args]) => `process ${pid}: ${args}`),
    ...added('builders'),
    ...added('containers'),
    ...added('daemonlessTemp'),
    ...inStateDirs,
    ...secretFiles,
    ...holding,
  ];
  return { problems, lingerMs };
}

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EndpointCheck, Fact, Facts, ImageStore } from '../engines/engine';
import { remoteEndpoints } from '../engines/remote-endpoints';
import { connectionCause } from '../engines/remote-hints';
import { buildctlTlsFlags, tlsFiles } from '../engines/tls';
import { Config } from '../config/types';
import { parseBuildkitVersion, parseVersion } from '../plan/version-warnings';
import { userDockerConfigDir } from '../registry/docker-config';
import { checkConnection } from './connection-check';
import { Runtime } from './runtime';

type Env = NodeJS.ProcessEnv;

/** The tools on PATH: file look-ups only, nothing runs. */
export function lookUpTools(runtime: Runtime, env: Env): Facts {
  const on = (name: string) => runtime.which(name, env.PATH) !== undefined;
  const dockerCli = on('docker');
  return { dockerCli, buildxPlugin: dockerCli && buildxPluginInstalled(env), buildctl: on('buildctl'), daemonless: on('buildctl-daemonless.sh') };
}

/** Where the docker CLI looks for plugins (docker/cli's defaults, and the user's own). */
function buildxPluginInstalled(env: Env): boolean {
  const dirs = [
    join(userDockerConfigDir(env), 'cli-plugins'),
    '/usr/local/lib/docker/cli-plugins',
    '/usr/local/libexec/docker/cli-plugins',
    '/usr/lib/docker/cli-plugins',
    '/usr/libexec/docker/cli-plugins',
  ];
  return dirs.some((dir) => existsSync(join(dir, 'docker-buildx')));
}

type Probe = (runtime: Runtime, env: Env, config: Config, deep?: DeepCheck) => Promise<Partial<Facts>>;

const dockerCommand = async (runtime: Runtime, env: Env, argv: string[]) => runtime.exec(argv, { env, capture: true, timeoutMs: 20_000 });

const probes: Record<Exclude<Fact, 'buildctlVersions'>, Probe> = {
  async dockerReachable(runtime, env) {
    const { code } = await runtime.exec(['docker', 'version', '--format', '{{.Server.Version}}'], { env, capture: true, timeoutMs: 10_000 });
    return { dockerReachable: code === 0 };
  },
  /** The engine's image store: containerd (`io.containerd.snapshotter`) or the classic one. */
  async imageStore(runtime, env) {
    const { code, stdout } = await dockerCommand(runtime, env, ['docker', 'info', '--format', '{{json .DriverStatus}}']);
    const store: ImageStore | undefined = code !== 0 ? undefined : stdout.includes('io.containerd.snapshotter') ? 'containerd' : 'classic';
    return { imageStore: store };
  },
  async buildxVersion(runtime, env) {
    const { code, stdout } = await dockerCommand(runtime, env, ['docker', 'buildx', 'version']);
    return { buildxVersion: code === 0 ? parseVersion(stdout) : undefined };
  },
  /** The BuildKit version of the engine's own builder. */
  async buildkitVersion(runtime, env) {
    const { code, stdout } = await dockerCommand(runtime, env, ['docker', 'buildx', 'inspect']);
    return { buildkitVersion: code === 0 ? parseBuildkitVersion(stdout) : undefined };
  },
  async endpoints(runtime, env, config, deep) {
    return { endpoints: await checkEndpoints(runtime, env, config, deep) };
  },
};

/** Looks up the tools, then runs the probes asked for, side by side, each once. */
export async function probeFacts(wanted: Fact[], base: Facts, runtime: Runtime, env: Env, config: Config): Promise<Facts> {
  const facts: Facts = { ...base };
  // With buildctl, the connection check also asks the daemon itself (`debug info`): it
  // catches what a handshake cannot (a client certificate the daemon refuses) and tells
  // the daemon's version.
  const deep = wanted.includes('buildctlVersions') && base.buildctl ? buildctlInfo(runtime, env, config) : undefined;
  const results = await Promise.all(wanted.flatMap((fact) => (fact === 'buildctlVersions' ? [] : [probes[fact](runtime, env, config, deep)])));
  results.forEach((result) => Object.assign(facts, result));
  if (deep && facts.endpoints?.chosen) {
    const client = await runtime.exec(['buildctl', '--version'], { env, capture: true, timeoutMs: 10_000 });
    facts.buildctlVersion = client.code === 0 ? parseVersion(client.stdout) : undefined;
    facts.daemonVersion = deep.versions.get(facts.endpoints.chosen);
  }
  return facts;
}

const attempts = 3;
const timeoutMs = 3000;

interface DeepCheck {
  check(endpoint: string): Promise<string | undefined>;
  versions: Map<string, string | undefined>;
}

/**
 * The connection check of builder.endpoint (in route order: the first that answers builds)
 * or of every builder.nodes entry (all must answer). Each gets a few tries, a short time-out
 * each; an unknown host or a TLS failure is not tried again.
 */
async function checkEndpoints(runtime: Runtime, env: Env, config: Config, deep?: DeepCheck): Promise<EndpointCheck> {
  const { endpoints } = remoteEndpoints({ config, env });
  const nodes = config.builder.nodes;
  const result: EndpointCheck = { failures: [] };
  for (const [i, endpoint] of endpoints.entries()) {
    const tls = nodes.length > 0 ? nodes[i]?.tls : config.builder.tls;
    let error: string | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      error = await checkConnection(endpoint, tls, env, timeoutMs);
      if (error === undefined && deep) error = await deep.check(endpoint);
      if (error === undefined || /ENOTFOUND|TLS|certificate|cannot read/i.test(error)) break;
      if (attempt < attempts) await runtime.sleep(500 * attempt);
    }
    if (error === undefined) {
      result.chosen ??= endpoint;
      if (nodes.length === 0) break;
    } else {
      result.failures.push({ endpoint, reason: connectionCause(error) ?? error });
    }
  }
  if (nodes.length > 0 && result.failures.length > 0) result.chosen = undefined;
  return result;
}

/** `buildctl debug info` against an endpoint: undefined when it answered, else its error. */
function buildctlInfo(runtime: Runtime, env: Env, config: Config): DeepCheck {
  const versions = new Map<string, string | undefined>();
  const tls = tlsFiles(config.builder.tls, env, '', '');
  return {
    versions,
    async check(endpoint) {
      // PEM held in variables is written to files only when the build runs.
      if (tls.files.length > 0) return undefined;
      const info = await runtime.exec(['buildctl', '--addr', endpoint, ...buildctlTlsFlags(tls), '--timeout', '10', 'debug', 'info'], {
        env,
        capture: true,
        timeoutMs: 15_000,
      });
      if (info.code === 0) {
        versions.set(endpoint, parseVersion(info.stdout));
        return undefined;
      }
      return info.stderr.trim() || `buildctl debug info exited ${info.code}`;
    },
  };
}

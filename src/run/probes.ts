import { Fact, Facts, ImageStore } from '../engines/engine';
import { parseBuildkitVersion, parseBuildxVersion } from '../plan/version-warnings';
import { Runtime } from './runtime';

type Probe<T> = (runtime: Runtime, env: NodeJS.ProcessEnv) => Promise<T | undefined>;

/** The engine's image store: containerd (`io.containerd.snapshotter`) or the classic one. */
const imageStore: Probe<ImageStore> = async (runtime, env) => {
  const { code, stdout } = await runtime.exec(['docker', 'info', '--format', '{{json .DriverStatus}}'], { env, capture: true, timeoutMs: 20_000 });
  if (code !== 0) return undefined;
  return stdout.includes('io.containerd.snapshotter') ? 'containerd' : 'classic';
};

const buildxVersion: Probe<string> = async (runtime, env) => {
  const { code, stdout } = await runtime.exec(['docker', 'buildx', 'version'], { env, capture: true, timeoutMs: 20_000 });
  return code === 0 ? parseBuildxVersion(stdout) : undefined;
};

/** The BuildKit version of the engine's own builder. */
const buildkitVersion: Probe<string> = async (runtime, env) => {
  const { code, stdout } = await runtime.exec(['docker', 'buildx', 'inspect'], { env, capture: true, timeoutMs: 20_000 });
  return code === 0 ? parseBuildkitVersion(stdout) : undefined;
};

const probes: Record<Fact, Probe<string>> = { imageStore, buildxVersion, buildkitVersion };

/** Runs the probes asked for, side by side, each once. */
export async function probeFacts(wanted: Fact[], runtime: Runtime, env: NodeJS.ProcessEnv): Promise<Facts> {
  const facts: Facts = { dockerCli: runtime.which('docker', env.PATH) !== undefined };
  if (!facts.dockerCli) return facts;
  const values = await Promise.all(wanted.map((fact) => probes[fact](runtime, env)));
  wanted.forEach((fact, i) => Object.assign(facts, { [fact]: values[i] }));
  return facts;
}

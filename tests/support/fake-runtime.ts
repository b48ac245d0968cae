import { ExecOptions, ExecResult } from '../../src/run/exec';
import { Runtime } from '../../src/run/runtime';

export interface ExecCall {
  argv: string[];
  options: ExecOptions;
}

type Script = (argv: string[], options: ExecOptions) => Partial<ExecResult> | undefined;

/**
 * A Runtime that runs nothing: every command is recorded and answered by `script`
 * (exit 0 with no output unless it says otherwise); `tools` are on PATH; meta-data, annotations and sleeps are
 * recorded too. `cancel()` makes the job cancelled, as a signal from the agent would.
 */
export function fakeRuntime(script: Script = () => undefined, tools: string[] = ['docker']) {
  const calls: ExecCall[] = [];
  const metaData: Record<string, string> = {};
  const annotations: Array<{ body: string; style: string; context: string }> = [];
  const sleeps: number[] = [];
  const artifacts: string[] = [];
  const redacted: string[] = [];
  const agentSecrets: Record<string, string> = {};
  const oidcAudiences: string[] = [];
  let cancelled: NodeJS.Signals | undefined;
  const runtime: Runtime = {
    exec: async (argv, options = {}) => {
      calls.push({ argv, options });
      return { code: 0, stdout: '', stderr: '', tail: [], ...script(argv, options) };
    },
    cancelled: () => cancelled,
    agent: {
      setMetaData: async (key, value) => {
        metaData[key] = value;
      },
      uploadArtifacts: async (pattern) => {
        artifacts.push(pattern);
        return true;
      },
      getMetaData: async (key) => (key in metaData ? { value: metaData[key] } : { error: `meta-data key ${key} not found` }),
      annotate: async (body, style, context) => {
        annotations.push({ body, style, context });
      },
      redact: async (value) => {
        redacted.push(value);
        return true;
      },
      secret: async (key) => (key in agentSecrets ? { value: agentSecrets[key] } : { error: `secret "${key}" not found` }),
      oidcToken: async (audience) => {
        oidcAudiences.push(audience);
        return { token: 'oidc-token' };
      },
    },
    which: (name) => (tools.includes(name) ? `/usr/bin/${name}` : undefined),
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    now: () => new Date('2026-01-02T03:04:05Z'),
  };
  return {
    runtime,
    calls,
    metaData,
    annotations,
    artifacts,
    sleeps,
    redacted,
    agentSecrets,
    oidcAudiences,
    cancel: (signal: NodeJS.Signals = 'SIGTERM') => (cancelled = signal),
  };
}

/** Captures what the hook logs (stdout and stderr) while `body` runs. */
export async function captureLog<T>(body: () => Promise<T>): Promise<{ result: T; log: string }> {
  const chunks: string[] = [];
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => chunks.push(String(chunk)) > 0);
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => chunks.push(String(chunk)) > 0);
  try {
    return { result: await body(), log: chunks.join('') };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

import type { ExecOptions, ExecResult } from '../run/exec';
import { log } from '../run/log';

export type AnnotationStyle = 'success' | 'info' | 'warning' | 'error';

/** The `buildkite-agent` calls the plugin makes. */
export interface AgentClient {
  setMetaData(key: string, value: string): Promise<void>;
  /** `buildkite-agent artifact upload PATTERN`: whether it succeeded (a warning says why not). */
  uploadArtifacts(pattern: string): Promise<boolean>;
  /** `buildkite-agent meta-data get KEY`: the value, or the agent's error (a key never set). */
  getMetaData(key: string): Promise<{ value?: string; error?: string }>;
  annotate(body: string, style: AnnotationStyle, context: string): Promise<void>;
  /** Registers a value the agent must mask in the job log (agent >= 3.66); false when it could not. */
  redact(value: string): Promise<boolean>;
  /** `buildkite-agent secret get KEY`: the value, or the agent's error. */
  secret(key: string): Promise<{ value?: string; error?: string }>;
  /** `buildkite-agent oidc request-token --audience A`: the job's OIDC token (registered for redaction), or the agent's error. */
  oidcToken(audience: string): Promise<{ token?: string; error?: string }>;
}

type Exec = (argv: string[], options?: ExecOptions) => Promise<ExecResult>;

/**
 * Calls that degrade gracefully: when the agent is absent (a local run) what would have
 * been reported is printed; when a call fails (an older agent) a warning is printed and the
 * job goes on.
 */
export function agentClient(exec: Exec, which: (name: string) => string | undefined): AgentClient {
  const agent = async (args: string[], description: string): Promise<boolean> => {
    if (!which('buildkite-agent')) {
      log.info(`buildkite-agent not found; would report ${description}`);
      return false;
    }
    const { code } = await exec(['buildkite-agent', ...args], { input: '' });
    if (code !== 0) log.warn(`buildkite-agent ${args[0]} failed (exit ${code}); going on without it`);
    return code === 0;
  };
  // Secret values go through stdin and captured output only: never argv, never the log.
  const quietly = (args: string[], input: string) => exec(['buildkite-agent', ...args], { input, capture: true, timeoutMs: 30_000 });
  /** What the agent printed, or its error on one line. */
  const answer = async (args: string[]): Promise<{ value?: string; error?: string }> => {
    if (!which('buildkite-agent')) return { error: 'buildkite-agent is not on PATH' };
    const { code, stdout, stderr } = await quietly(args, '');
    const error = stderr
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean)
      .join(' ');
    return code === 0 ? { value: stdout } : { error: error || `exit ${code}` };
  };
  const redact = async (value: string) => which('buildkite-agent') !== undefined && (await quietly(['redactor', 'add'], value)).code === 0;
  return {
    setMetaData: async (key, value) => {
      await agent(['meta-data', 'set', key, value], `meta-data ${key}=${value}`);
    },
    uploadArtifacts: (pattern) => agent(['artifact', 'upload', pattern], `artifacts ${pattern}`),
    getMetaData: (key) => answer(['meta-data', 'get', key]),
    annotate: async (body, style, context) => {
      await agent(['annotate', body, '--style', style, '--context', context], `annotation (${style}, ${context}):\n${body}`);
    },
    redact,
    secret: async (key) => {
      const { value, error } = await answer(['secret', 'get', key]);
      return value === undefined ? { error } : { value: value.replace(/\n$/, '') };
    },
    oidcToken: async (audience) => {
      const { value, error } = await answer(['oidc', 'request-token', '--audience', audience]);
      if (value === undefined) return { error };
      const token = value.trim();
      await redact(token);
      return { token };
    },
  };
}

/**
 * Registers every value with the redactor before anything could print it; one warning when
 * the agent cannot (older than 3.66, or none). `what` names the values in that warning.
 */
export async function redactAll(agent: Pick<AgentClient, 'redact'>, values: string[], what: string): Promise<void> {
  const distinct = [...new Set(values.filter((value) => value.trim() !== ''))];
  const results = await Promise.all(distinct.map((value) => agent.redact(value)));
  if (results.some((ok) => !ok)) {
    log.warn(`buildkite-agent redactor add failed (it needs agent >= 3.66): ${what} are not masked in the job log; the plugin itself never prints them`);
  }
}

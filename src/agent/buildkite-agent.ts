import type { ExecOptions, ExecResult } from '../run/exec';
import { log } from '../run/log';

export type AnnotationStyle = 'success' | 'info' | 'warning' | 'error';

/** The `buildkite-agent` calls the plugin makes. */
export interface AgentClient {
  setMetaData(key: string, value: string): Promise<void>;
  annotate(body: string, style: AnnotationStyle, context: string): Promise<void>;
}

type Exec = (argv: string[], options?: ExecOptions) => Promise<ExecResult>;

/**
 * Calls that degrade gracefully: when the agent is absent (a local run) what would have
 * been reported is printed; when a call fails (an older agent) a warning is printed and the
 * job goes on.
 */
export function agentClient(exec: Exec, which: (name: string) => string | undefined): AgentClient {
  const agent = async (args: string[], description: string): Promise<void> => {
    if (!which('buildkite-agent')) {
      log.info(`buildkite-agent not found; would report ${description}`);
      return;
    }
    const { code } = await exec(['buildkite-agent', ...args], { input: '' });
    if (code !== 0) log.warn(`buildkite-agent ${args[0]} failed (exit ${code}); going on without it`);
  };
  return {
    setMetaData: (key, value) => agent(['meta-data', 'set', key, value], `meta-data ${key}=${value}`),
    annotate: (body, style, context) => agent(['annotate', body, '--style', style, '--context', context], `annotation (${style}, ${context}):\n${body}`),
  };
}

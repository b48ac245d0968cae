import { exec } from '../run/exec';
import { log } from '../run/log';
import { which } from '../run/which';

/**
 * `buildkite-agent` calls that degrade gracefully: when the agent is absent (a local run)
 * what would have been reported is printed; when a call fails (an older agent) a warning
 * is printed and the job goes on.
 */
export async function setMetaData(key: string, value: string): Promise<void> {
  await agent(['meta-data', 'set', key, value], undefined, `meta-data ${key}=${value}`);
}

export async function annotate(body: string, style: 'success' | 'info' | 'warning' | 'error', context: string): Promise<void> {
  await agent(['annotate', body, '--style', style, '--context', context], undefined, `annotation (${style}, ${context}):\n${body}`);
}

async function agent(args: string[], input: string | undefined, description: string): Promise<void> {
  if (!which('buildkite-agent')) {
    log.info(`buildkite-agent not found; would report ${description}`);
    return;
  }
  const { code } = await exec(['buildkite-agent', ...args], { input: input ?? '' });
  if (code !== 0) log.warn(`buildkite-agent ${args[0]} failed (exit ${code}); going on without it`);
}

import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';

/** The BUILDKITE_* variables an agent gives a job, from the checkout's git state where it has one. */
export function jobEnv(checkout: string, overrides: Record<string, string>): Record<string, string> {
  const git = (...args: string[]): string | undefined => {
    try {
      return (
        execFileSync('git', ['-C', checkout, ...args], { stdio: ['ignore', 'pipe', 'ignore'] })
          .toString()
          .trim() || undefined
      );
    } catch {
      return undefined;
    }
  };
  const env: Record<string, string> = {
    BUILDKITE: 'true',
    CI: 'true',
    BUILDKITE_AGENT_NAME: 'local',
    BUILDKITE_ORGANIZATION_SLUG: 'local',
    BUILDKITE_PIPELINE_SLUG: 'local',
    BUILDKITE_PIPELINE_DEFAULT_BRANCH: 'main',
    BUILDKITE_BUILD_ID: randomUUID(),
    BUILDKITE_BUILD_NUMBER: '1',
    BUILDKITE_BUILD_URL: 'http://localhost/local/builds/1',
    BUILDKITE_JOB_ID: randomUUID(),
    BUILDKITE_STEP_ID: randomUUID(),
    BUILDKITE_BRANCH: git('rev-parse', '--abbrev-ref', 'HEAD') ?? 'main',
    BUILDKITE_COMMIT: git('rev-parse', 'HEAD') ?? 'HEAD',
    BUILDKITE_REPO: git('config', '--get', 'remote.origin.url') ?? '',
    BUILDKITE_BUILD_CHECKOUT_PATH: checkout,
    BUILDKITE_SHELL: '/bin/bash -e -c',
  };
  return { ...env, ...overrides };
}

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pluginEnv } from '../../src/cli/plugin-env';
import { loadConfig } from '../../src/config/load-config';
import { runBuildJob } from '../../src/run/build-job';
import { captureLog, fakeRuntime } from './fake-runtime';
import { defined } from './defined';
import { scratchDir } from './scratch';

export const digest = `sha256:${'a'.repeat(64)}`;

/** A whole command hook in-process, in a scratch checkout: no process runs; the build "writes" its metadata file. */
export async function commandHook(config: Record<string, unknown>, fake = fakeRuntime(buildWritesMetadata), extraEnv: Record<string, string> = {}) {
  const dir = scratchDir('build-job-');
  const exportsFile = join(dir, 'exports');
  writeFileSync(exportsFile, '');
  const stateDir = join(dir, 'buildkite-plugin-buildkit-0', 'job');
  const env = {
    ...pluginEnv('buildkit#v1', { 'oci-labels': false, ...config }, 'json'),
    BUILDKIT_PLUGIN_STATE_DIR: stateDir,
    BUILDKITE_BUILD_CHECKOUT_PATH: dir,
    BUILDKIT_PLUGIN_EXPORTS_FILE: exportsFile,
    BUILDKITE_JOB_ID: 'job-1',
    BUILDKITE_STEP_KEY: 'app',
    BUILDKITE_COMMAND: 'smoke-test',
    ...extraEnv,
  };
  const loaded = loadConfig(env);
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const { result, log } = await captureLog(() => runBuildJob(loaded.config, loaded.notices, env, fake.runtime));
  return { code: result, log, exports: readFileSync(exportsFile, 'utf8'), dir, stateDir, ...fake };
}

export function buildWritesMetadata(argv: string[]) {
  const at = argv.indexOf('--metadata-file');
  if (at !== -1) writeFileSync(defined(argv[at + 1], 'a metadata file'), JSON.stringify({ 'containerimage.digest': digest }));
  return undefined;
}

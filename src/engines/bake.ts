import { Config } from '../config/types';
import { BuildRequest } from '../plan/build-request';

/**
 * argv for `docker buildx bake` (without the leading `docker`). The bake files describe the
 * builds; the plugin adds its labels to every target and its run-wide flags.
 */
export function bakeArgs(config: Config, request: BuildRequest, builder?: string): string[] {
  const bake = config.bake ?? { files: [], targets: [], set: [] };
  const args = ['buildx', 'bake', '--progress', request.progress];
  if (builder) args.push('--builder', builder);
  for (const file of bake.files) args.push('--file', file);
  for (const label of request.labels) {
    const eq = label.indexOf('=');
    args.push('--set', `*.labels.${label.slice(0, eq)}=${label.slice(eq + 1)}`);
  }
  for (const set of bake.set) args.push('--set', set);
  if (request.push) args.push('--push');
  if (request.load) args.push('--load');
  if (request.pull) args.push('--pull');
  if (request.noCache) args.push('--no-cache');
  args.push('--metadata-file', request.metadataFile);
  args.push(...bake.targets);
  return args;
}

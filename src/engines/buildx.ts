import { BuildRequest } from '../plan/build-request';

/** argv for `docker buildx build` (without the leading `docker`). */
export function buildxBuildArgs(request: BuildRequest): string[] {
  const args = ['buildx', 'build', '--progress', request.progress];
  if (request.dockerfile) args.push('--file', request.dockerfile);
  if (request.target) args.push('--target', request.target);
  for (const arg of request.buildArgs) args.push('--build-arg', arg);
  for (const label of request.labels) args.push('--label', label);
  if (request.network) args.push('--network', request.network);
  for (const ref of request.refs) args.push('--tag', ref);
  if (request.push) args.push('--push');
  if (request.noCache) args.push('--no-cache');
  args.push('--metadata-file', request.metadataFile);
  // `--` would end options for a later flag too; a context starting with `-` is made explicit.
  args.push(request.context.startsWith('-') ? `./${request.context}` : request.context);
  return args;
}

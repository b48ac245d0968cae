import { Attestation } from '../config/types';
import { BuildRequest } from '../plan/build-request';

/** argv for `docker buildx build` (without the leading `docker`). */
export function buildxBuildArgs(request: BuildRequest, builder?: string): string[] {
  const args = ['buildx', 'build', '--progress', request.progress];
  if (builder) args.push('--builder', builder);
  if (request.dockerfile) args.push('--file', request.dockerfile);
  if (request.target) args.push('--target', request.target);
  if (request.platforms.length > 0) args.push('--platform', request.platforms.join(','));
  for (const arg of request.buildArgs) args.push('--build-arg', arg);
  for (const label of request.labels) args.push('--label', label);
  for (const context of request.buildContexts) args.push('--build-context', context);
  for (const annotation of request.annotations) args.push('--annotation', annotation);
  if (request.network) args.push('--network', request.network);
  if (request.shmSize) args.push('--shm-size', request.shmSize);
  for (const host of request.addHosts) args.push('--add-host', host);
  for (const ulimit of request.ulimits) args.push('--ulimit', ulimit);
  for (const ref of request.refs) args.push('--tag', ref);
  if (request.outputs.length > 0) {
    for (const output of request.outputs) args.push('--output', output);
  } else {
    if (request.push) args.push('--push');
    if (request.load) args.push('--load');
  }
  args.push(...attestationArgs('provenance', request.provenance), ...attestationArgs('sbom', request.sbom));
  if (request.pull) args.push('--pull');
  if (request.noCache) args.push('--no-cache');
  args.push('--metadata-file', request.metadataFile);
  // A context starting with `-` would read as a flag.
  args.push(request.context.startsWith('-') ? `./${request.context}` : request.context);
  return args;
}

function attestationArgs(name: string, value: Attestation): string[] {
  return value === undefined ? [] : [`--${name}=${value}`];
}

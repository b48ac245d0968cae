import { formatExporterSpec, formatFields } from '../config/exporter';
import { Attestation, BakeConfig } from '../config/types';
import { BuildRequest, pairText, withRewriteTimestamp } from '../plan/build-request';

/** argv of `docker buildx build`, on the named builder or the engine's own. */
export function buildxBuildArgv(request: BuildRequest, builder?: string): string[] {
  const args = ['docker', 'buildx', 'build', '--progress', request.progress];
  if (builder) args.push('--builder', builder);
  if (request.dockerfile) args.push('--file', request.dockerfile);
  if (request.target) args.push('--target', request.target);
  if (request.platforms.length > 0) args.push('--platform', request.platforms.join(','));
  for (const arg of request.buildArgs) args.push('--build-arg', pairText(arg));
  if (request.sourceDateEpoch) args.push('--build-arg', `SOURCE_DATE_EPOCH=${request.sourceDateEpoch}`);
  args.push(...secretAndSshArgs(request));
  for (const label of request.labels) args.push('--label', pairText(label));
  for (const context of request.buildContexts) args.push('--build-context', pairText(context));
  for (const annotation of request.annotations) args.push('--annotation', pairText(annotation));
  if (request.network) args.push('--network', request.network);
  if (request.shmSize) args.push('--shm-size', request.shmSize);
  for (const host of request.addHosts) args.push('--add-host', host);
  for (const ulimit of request.ulimits) args.push('--ulimit', ulimit);
  // buildx names every image output after the --tag flags.
  for (const ref of request.refs) args.push('--tag', ref);
  // --push and --load are type=registry and type=docker outputs: spelt out to add rewrite-timestamp.
  if (request.explicitOutputs || request.rewriteTimestamp) {
    for (const output of request.outputs) args.push('--output', formatExporterSpec(withRewriteTimestamp(output, request)));
  } else {
    if (request.pushes) args.push('--push');
    if (request.loads) args.push('--load');
  }
  args.push(...attestationArgs('provenance', request.provenance), ...attestationArgs('sbom', request.sbom));
  if (request.pull) args.push('--pull');
  if (request.noCache) args.push('--no-cache');
  for (const cache of request.cacheImports) args.push('--cache-from', formatExporterSpec(cache));
  for (const cache of request.cacheExports) args.push('--cache-to', formatExporterSpec(cache));
  args.push('--metadata-file', request.metadataFile);
  // A context starting with `-` would read as a flag.
  args.push(request.context.startsWith('-') ? `./${request.context}` : request.context);
  return args;
}

/**
 * argv of `docker buildx bake`. The bake files describe the builds; the plugin adds its
 * labels to every target and its run-wide flags.
 */
export function buildxBakeArgv(bake: BakeConfig, request: BuildRequest, builder?: string): string[] {
  const args = ['docker', 'buildx', 'bake', '--progress', request.progress];
  if (builder) args.push('--builder', builder);
  for (const file of bake.files) args.push('--file', file);
  for (const label of request.labels) args.push('--set', `*.labels.${pairText(label)}`);
  for (const set of bake.set) args.push('--set', set);
  if (request.pushes) args.push('--push');
  if (request.loads) args.push('--load');
  if (request.pull) args.push('--pull');
  if (request.noCache) args.push('--no-cache');
  for (const cache of request.cacheImports) args.push('--set', `*.cache-from=${formatExporterSpec(cache)}`);
  for (const cache of request.cacheExports) args.push('--set', `*.cache-to=${formatExporterSpec(cache)}`);
  args.push('--metadata-file', request.metadataFile);
  args.push(...bake.targets);
  return args;
}

function attestationArgs(name: string, value: Attestation): string[] {
  if (value === undefined) return [];
  if (!value.enabled) return [`--${name}=false`];
  return [`--${name}=${value.attrs.length === 0 ? 'true' : formatFields(value.attrs)}`];
}

/** `--secret id=X,env=V|src=F` and `--ssh default|id=paths`: the same flags for buildx and buildctl. */
export function secretAndSshArgs(request: Pick<BuildRequest, 'secrets' | 'ssh'>): string[] {
  const args: string[] = [];
  for (const secret of request.secrets) {
    const from = 'env' in secret ? { key: 'env', value: secret.env } : { key: 'src', value: secret.src };
    args.push('--secret', formatFields([{ key: 'id', value: secret.id }, from]));
  }
  for (const entry of request.ssh) args.push('--ssh', entry.paths.length === 0 ? entry.id : `${entry.id}=${entry.paths.join(',')}`);
  return args;
}

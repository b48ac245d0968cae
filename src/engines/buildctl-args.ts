import { basename, dirname, join } from 'node:path';
import { Field, formatExporterSpec, formatFields } from '../config/exporter';
import { Attestation } from '../config/types';
import { BuildRequest, Output, Pair, notLocalContext, pairText, withRewriteTimestamp } from '../plan/build-request';
import { writeCsvRecord } from '../config/csv';
import { sizeBytes } from '../config/size';
import { secretAndSshArgs } from './buildx-args';

/**
 * The arguments of `buildctl build` (after any `--addr`/TLS flags) for a request: the
 * dockerfile frontend with its `--opt`s, every output as an exporter spec. `loadTar` is
 * where a `type=docker` output is written, for `docker load` to read.
 */
export function buildctlBuildArgs(request: BuildRequest, loadTar: string): string[] {
  const dockerfile = request.dockerfile ?? join(request.context, 'Dockerfile');
  const args = ['build', '--progress', request.progress === 'quiet' || request.progress === 'auto' ? 'plain' : request.progress];
  args.push('--frontend', 'dockerfile.v0', '--local', `context=${request.context}`, '--local', `dockerfile=${dirname(dockerfile)}`);
  const opt = (value: string) => args.push('--opt', value);
  opt(`filename=${basename(dockerfile)}`);
  if (request.target) opt(`target=${request.target}`);
  if (request.platforms.length > 0) opt(`platform=${request.platforms.join(',')}`);
  for (const arg of request.buildArgs) opt(`build-arg:${pairText(arg)}`);
  // buildctl 0.13 also passes SOURCE_DATE_EPOCH from its environment; older ones do not.
  if (request.sourceDateEpoch) opt(`build-arg:SOURCE_DATE_EPOCH=${request.sourceDateEpoch}`);
  args.push(...secretAndSshArgs(request));
  for (const label of request.labels) opt(`label:${pairText(label)}`);
  for (const context of request.buildContexts) args.push(...namedContext(context));
  if (request.network && request.network !== 'default') opt(`force-network-mode=${request.network}`);
  if (request.network === 'host') args.push('--allow', 'network.host');
  if (request.shmSize) opt(`shm-size=${sizeBytes(request.shmSize) ?? 0}`);
  if (request.addHosts.length > 0) opt(`add-hosts=${writeCsvRecord(request.addHosts.map((host) => host.replace(':', '=')))}`);
  if (request.ulimits.length > 0) opt(`ulimit=${writeCsvRecord(request.ulimits)}`);
  args.push(...attestation('provenance', request.provenance ?? (request.pushes ? { enabled: true, attrs: [] } : undefined)));
  args.push(...attestation('sbom', request.sbom));
  if (request.pull) opt('image-resolve-mode=pull');
  if (request.noCache) args.push('--no-cache');
  for (const cache of request.cacheImports) args.push('--import-cache', formatExporterSpec(cache));
  for (const cache of request.cacheExports) args.push('--export-cache', formatExporterSpec(cache));
  for (const output of buildctlOutputs(request, loadTar)) args.push('--output', output);
  args.push('--metadata-file', request.metadataFile);
  return args;
}

/** buildx's default output is the engine's image store; buildctl's is none, so refs become an image output. */
function buildctlOutputs(request: BuildRequest, loadTar: string): string[] {
  const outputs: Output[] = request.outputs.length > 0 || request.refs.length === 0 ? request.outputs : [{ type: 'image', attrs: [], names: request.refs }];
  return outputs.map((given) => {
    const output = withRewriteTimestamp(given, request);
    const annotations = ['image', 'registry', 'oci', 'docker'].includes(output.type) ? request.annotations.map(annotationAttr) : [];
    if (output.type === 'image' || output.type === 'registry') {
      // buildctl has no `registry` type: it is an image output that pushes.
      const given = output.attrs.filter((attr) => attr.key !== 'name' && !(output.type === 'registry' && attr.key === 'push'));
      const push: Field[] = output.type === 'registry' ? [{ key: 'push', value: 'true' }] : [];
      return formatExporterSpec({ type: 'image', attrs: [...names(output), ...given, ...push, ...annotations] });
    }
    if (output.type === 'docker') {
      const given = output.attrs.filter((attr) => attr.key !== 'name' && attr.key !== 'dest');
      return formatExporterSpec({ type: 'docker', attrs: [...names(output), ...given, { key: 'dest', value: loadTar }, ...annotations] });
    }
    return formatExporterSpec({ type: output.type, attrs: [...output.attrs, ...annotations] });
  });
}

function names(output: Output): Field[] {
  return output.names.length > 0 ? [{ key: 'name', value: output.names.join(',') }] : [];
}

/** `index:k=v` → `annotation-index.k=v`, as buildx turns `--annotation` into exporter attributes. */
function annotationAttr(pair: Pair): Field {
  const level = /^(index|manifest|manifest-descriptor|index-descriptor):(.+)$/.exec(pair.key);
  return level ? { key: `annotation-${level[1]}.${level[2]}`, value: pair.value } : { key: `annotation.${pair.key}`, value: pair.value };
}

/** A directory becomes a local source of its own; images, git and URLs pass as they are. */
function namedContext(context: Pair): string[] {
  if (notLocalContext.test(context.value)) return ['--opt', `context:${pairText(context)}`];
  return ['--local', `${context.key}=${context.value}`, '--opt', `context:${context.key}=local:${context.key}`];
}

function attestation(name: string, value: Attestation): string[] {
  if (!value?.enabled) return [];
  const attrs = value.attrs.length > 0 ? formatFields(value.attrs) : name === 'provenance' ? 'mode=min' : '';
  return ['--opt', `attest:${name}=${attrs}`];
}

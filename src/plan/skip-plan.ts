import { normalize } from 'node:path';
import { formatFields } from '../config/exporter';
import { imageRepository } from '../config/image-refs';
import { Config } from '../config/types';
import { BuildRequest, Pair, inCheckout, isPushed, notLocalContext, pairText } from './build-request';
import { isForkPullRequest } from './cache-plan';

type Env = Record<string, string | undefined>;

/** What `skip-unchanged` hashes and where its `inputs-<key>` tags live. */
export interface SkipPlan {
  /** The repository of the first pushed name: `<repository>:<tagPrefix>inputs-<key>`. */
  repository: string;
  tagPrefix: string;
  /** Every name a reused image is given (the pushed names). */
  names: string[];
  /** A fork's pull request reuses but never writes an inputs tag. */
  writes: boolean;
  /** `no-cache: true` always builds (and still writes the tag). */
  reuses: boolean;
  maxAgeSeconds?: number;
  /** Everything the key hashes besides files, in a stable shape. */
  settings: Record<string, unknown>;
  checkout: string;
  dockerfile: string;
  /** The build context, filtered by its .dockerignore; or the `inputs` globs in the checkout. */
  files: { context: string } | { globs: string[] };
  /** Named build contexts that are directories on the agent, hashed whole. */
  localContexts: Array<{ name: string; dir: string }>;
}

/** The reuse check of a job, or the problems that stop it (each naming its option). */
export function planSkipUnchanged(config: Config, request: BuildRequest, env: Env): { plan?: SkipPlan; errors: string[]; notices: string[] } {
  const settings = config.skipUnchanged;
  if (!settings || config.bake) return { errors: [], notices: [] };
  const errors: string[] = [];
  const notices: string[] = [];
  const names = [...new Set(request.outputs.filter(isPushed).flatMap((output) => output.names))];
  if (!request.pushes || names.length === 0) errors.push('skip-unchanged: the reused image is found in a registry; set push: true (and image)');
  const files = request.outputs.filter((output) => !['registry', 'image', 'docker'].includes(output.type));
  if (files.length > 0)
    errors.push(
      `skip-unchanged: a reused image writes no ${files.map((output) => output.type).join(', ')} output; build those in a step without skip-unchanged`,
    );
  if (notLocalContext.test(request.context))
    errors.push(`skip-unchanged: the context ${request.context} is not a directory on the agent, so it cannot be hashed`);
  if (errors.length > 0) return { errors, notices };

  const writes = !isForkPullRequest(env);
  if (!writes) notices.push('skip-unchanged: a pull request from a fork may reuse an image but never writes an inputs- tag');
  const reuses = !config.noCache;
  if (!reuses) notices.push('skip-unchanged: no-cache is set, so the image is built (and tagged by its inputs) even when it exists');
  const local = (path: string) => normalize(inCheckout(path, env)).replace(/(.)\/$/, '$1');
  const checkout = local('.');
  const context = local(request.context);
  return {
    plan: {
      repository: imageRepository(names[0] as string),
      tagPrefix: settings.keyPrefix ? `${settings.keyPrefix}-` : '',
      names,
      writes,
      reuses,
      maxAgeSeconds: settings.maxAgeSeconds,
      settings: keySettings(config, request),
      checkout,
      dockerfile: request.dockerfile ? local(request.dockerfile) : local(`${context}/Dockerfile`),
      files: settings.inputs ? { globs: settings.inputs } : { context },
      localContexts: request.buildContexts.flatMap((pair) => {
        const dir = localContextDir(pair);
        return dir === undefined ? [] : [{ name: pair.key, dir: local(dir) }];
      }),
    },
    errors,
    notices,
  };
}

/** The directory of a named context on the agent: a path, or an OCI layout (`oci-layout://dir[:tag][@digest]`). */
function localContextDir(pair: Pair): string | undefined {
  const layout = /^oci-layout:\/\/([^@]+?)(:[\w][\w.-]*)?(@sha256:[a-f0-9]{64})?$/.exec(pair.value);
  if (layout) return layout[1];
  return notLocalContext.test(pair.value) ? undefined : pair.value;
}

/**
 * What the build is told besides its files. The labels are the user's own: the automatic
 * OCI labels (commit, time) differ on every commit and would make every key new. Secret
 * values are never hashed, only which secrets the build mounts.
 */
function keySettings(config: Config, request: BuildRequest): Record<string, unknown> {
  const attestation = (value: BuildRequest['provenance']) => (value === undefined ? 'default' : value.enabled ? formatFields(value.attrs) || 'on' : 'off');
  const userLabels = new Set(config.labels.map((label) => label.key));
  return {
    // With inputs globs, two contexts of one checkout would otherwise share a key.
    context: request.context,
    target: request.target ?? '',
    platforms: request.platforms,
    buildArgs: request.buildArgs.map(pairText),
    buildContexts: request.buildContexts.map(pairText),
    labels: request.labels.filter((label) => userLabels.has(label.key)).map(pairText),
    annotations: request.annotations.map(pairText),
    secrets: request.secrets.map((secret) => secret.id),
    ssh: request.ssh.map((entry) => entry.id),
    network: request.network ?? '',
    addHosts: request.addHosts,
    shmSize: request.shmSize ?? '',
    ulimits: request.ulimits,
    provenance: attestation(request.provenance),
    sbom: attestation(request.sbom),
    // How the image is written (compression, media types), not where it goes.
    // Only when set, so that the keys of other builds stay as they were.
    ...(request.sourceDateEpoch !== undefined ? { reproducible: true } : {}),
    pushed: request.outputs.filter(isPushed).map((output) => formatFields(output.attrs.filter((attr) => !['name', 'push'].includes(attr.key)))),
  };
}

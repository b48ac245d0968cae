import { BuildRequest } from '../plan/build-request';

/**
 * What the Docker engine's classic (overlay2) image store cannot do with buildx's docker
 * driver, for this build. The containerd image store can do all of it.
 */
export function classicStoreLimits(request: BuildRequest): string[] {
  const reasons: string[] = [];
  if (request.platforms.length > 1) reasons.push('a multi-platform build');
  if (request.outputs.some((output) => output.type === 'oci')) reasons.push('an OCI layout output');
  if (request.provenance?.enabled || request.sbom?.enabled) reasons.push('attestations (provenance/sbom)');
  // Checked on a classic engine: the build succeeds but the pushed manifest has none.
  if (request.annotations.length > 0) reasons.push('annotations');
  // "Cache export is not supported for the docker driver": only inline cache is.
  if (request.cacheExports.some((cache) => cache.type !== 'inline'))
    reasons.push(`a ${request.cacheExports.find((c) => c.type !== 'inline')?.type} cache export`);
  return reasons;
}

/** Cache backends buildx's docker driver has (moby registers gha, inline, local and registry), on either store. */
const dockerDriverCaches = ['registry', 'local', 'inline', 'gha'];

/** What buildx's docker driver cannot do on any image store: other cache backends (s3, azblob). */
export function dockerDriverLimits(request: BuildRequest): string[] {
  const types = [...request.cacheImports, ...request.cacheExports].map((cache) => cache.type).filter((type) => !dockerDriverCaches.includes(type));
  return [...new Set(types)].map((type) => `an ${type} cache`);
}

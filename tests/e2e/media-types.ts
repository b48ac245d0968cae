// No jest here: tests/e2e/ecr-registry.ts is also bundled and run under plain node.
/** Every manifest type a registry may serve, for the Accept header. */
export const manifestTypes = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

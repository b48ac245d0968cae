import { RegistryError } from './registry-error';

/** An image reference, read as the docker CLI reads it. */
export interface Reference {
  /** host/path as given, without tag or digest. */
  name: string;
  /** The registry as Docker names it: host[:port], `docker.io` when none is given. */
  registry: string;
  /** Where its API answers: `registry-1.docker.io` for `docker.io`. */
  apiHost: string;
  /** The repository in the API: `library/alpine`. */
  path: string;
  tag?: string;
  digest?: string;
}

const hostComponent = '[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?';
const host = `(?:${hostComponent}(?:\\.${hostComponent})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]+)?`;
const pathComponent = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const referenceRe = new RegExp(`^((?:${host}/)?${pathComponent}(?:/${pathComponent})*)(?::([\\w][\\w.-]{0,127}))?(?:@(sha256:[a-f0-9]{64}))?$`);

/** Docker's rule: the first component names a registry when it has a `.` or `:`, is `localhost`, is upper case, or is an IPv6 address. */
function isRegistry(first: string): boolean {
  return /[.:[]/.test(first) || first === 'localhost' || first !== first.toLowerCase();
}

export function parseReference(ref: string): Reference {
  const match = referenceRe.exec(ref);
  const name = match?.[1];
  if (!match || name === undefined || name.length > 255) throw new RegistryError(`${JSON.stringify(ref)} is not an image reference`);
  const slash = name.indexOf('/');
  const named = slash > 0 && isRegistry(name.slice(0, slash));
  let registry = named ? name.slice(0, slash) : 'docker.io';
  let path = named ? name.slice(slash + 1) : name;
  if (registry === 'index.docker.io') registry = 'docker.io';
  if (registry === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  return { name, registry, apiHost: apiHostOf(registry), path, tag: match[2], digest: match[3] };
}

/** The tag or digest to ask the registry for; a digest wins, as with `docker pull`. */
export function manifestReference(ref: Reference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

export function apiHostOf(registry: string): string {
  return registry === 'docker.io' ? 'registry-1.docker.io' : registry;
}

/** The hosts Docker and containerd treat as insecure registries: plain HTTP is allowed. */
export function isLocalHost(apiHost: string): boolean {
  const hostname = apiHost.replace(/:[0-9]+$/, '');
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(hostname);
}

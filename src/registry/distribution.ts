import { createHash } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import { Reference, manifestReference, parseReference } from './reference';
import { RegistryError } from './registry-error';
import { RegistryAccess, RegistrySession } from './registry-http';

/**
 * A small client of the OCI distribution API (https://github.com/opencontainers/distribution-spec):
 * look up a manifest, read an image's labels, and put a manifest under another tag, repository or
 * registry with everything it references (what `docker buildx imagetools create` does), with
 * Docker's credentials and TLS settings, for agents with no Docker CLI.
 */

export type { RegistryAccess } from './registry-http';
export { RegistryError } from './registry-error';

export interface Manifest {
  /** The ref it was looked up by. */
  ref: string;
  /** host/path as given. */
  repository: string;
  /** sha256:... of bytes. */
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string };
  annotations?: Record<string, string>;
  urls?: string[];
}

interface ManifestContent {
  mediaType?: string;
  manifests?: Descriptor[];
  config?: Descriptor;
  layers?: Descriptor[];
}

const ociIndex = 'application/vnd.oci.image.index.v1+json';
const ociManifest = 'application/vnd.oci.image.manifest.v1+json';
const manifestTypes = [
  ociIndex,
  'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest,
  'application/vnd.docker.distribution.manifest.v2+json',
];
const maxManifestBytes = 4 << 20;
const maxConfigBytes = 8 << 20;
const missing = new Set(['MANIFEST_UNKNOWN', 'NAME_UNKNOWN']);
const digestRe = /^sha256:[a-f0-9]{64}$/;

const pull = (ref: Reference) => `repository:${ref.path}:pull`;
const push = (ref: Reference) => `repository:${ref.path}:pull,push`;

async function withSession<T>(access: RegistryAccess, work: (session: RegistrySession) => Promise<T>): Promise<T> {
  const session = new RegistrySession(access);
  try {
    return await work(session);
  } finally {
    session.close();
  }
}

/** The manifest a ref (tag or digest) names, or undefined when the registry says it does not exist (404, MANIFEST_UNKNOWN, NAME_UNKNOWN). */
export async function lookUpManifest(ref: string, access: RegistryAccess): Promise<Manifest | undefined> {
  return withSession(access, (session) => fetchManifest(session, ref));
}

/** The labels of the image config: of the manifest itself, or for an index of its first manifest that is not an attestation. */
export async function imageLabels(manifest: Manifest, access: RegistryAccess): Promise<Record<string, string>> {
  return withSession(access, (session) => labelsOf(session, manifest));
}

/**
 * Puts the same manifest bytes (same digest) under target, first copying whatever target's
 * repository lacks: each child manifest of an index (put by digest), each config and layer blob
 * (mounted from the source repository on the same registry, else streamed). What is already
 * there (HEAD 200) is not copied.
 */
export async function putManifest(manifest: Manifest, target: string, access: RegistryAccess): Promise<void> {
  const from = parseReference(manifest.repository);
  const to = parseReference(target);
  if (to.digest !== undefined && to.digest !== manifest.digest) throw new RegistryError(`${target}: the manifest to put is ${manifest.digest}`);
  await withSession(access, async (session) => {
    if (from.registry !== to.registry || from.path !== to.path) await copyReferenced(session, manifest, from, to);
    await uploadManifest(session, manifest, to, manifestReference(to), target);
  });
}

function parseContent(manifest: Manifest): ManifestContent {
  let content: ManifestContent;
  try {
    content = JSON.parse(manifest.bytes.toString('utf8')) as ManifestContent;
  } catch {
    throw new RegistryError(`${manifest.ref}: the manifest is not JSON`);
  }
  for (const descriptor of [...(content.manifests ?? []), ...(content.config ? [content.config] : []), ...(content.layers ?? [])]) {
    if (!digestRe.test(descriptor.digest)) throw new RegistryError(`${manifest.ref}: unsupported digest ${JSON.stringify(descriptor.digest)}`);
    if (!Number.isSafeInteger(descriptor.size)) throw new RegistryError(`${manifest.ref}: ${descriptor.digest} has no size`);
  }
  return content;
}

/** The media type the registry gave, else the one the manifest names, else the OCI type its shape says. */
function mediaTypeOf(contentType: string | undefined, bytes: Buffer): string {
  const given = contentType?.split(';')[0]?.trim();
  if (given && given !== 'application/json' && given !== 'text/plain') return given;
  try {
    const content = JSON.parse(bytes.toString('utf8')) as ManifestContent;
    return content.mediaType ?? (content.manifests ? ociIndex : ociManifest);
  } catch {
    return given || ociManifest;
  }
}

function checkDigest(bytes: Buffer, expected: string | undefined, context: string): string {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (expected !== undefined && expected !== digest) throw new RegistryError(`${context}: the registry sent content with digest ${digest}, not ${expected}`);
  return digest;
}

async function fetchManifest(session: RegistrySession, ref: string): Promise<Manifest | undefined> {
  const parsed = parseReference(ref);
  const res = await session.request(parsed.registry, {
    method: 'GET',
    target: `/v2/${parsed.path}/manifests/${manifestReference(parsed)}`,
    headers: { Accept: manifestTypes.join(', ') },
    scopes: [pull(parsed)],
    context: ref,
  });
  if (res.statusCode === 404) {
    res.resume();
    return undefined;
  }
  if (res.statusCode !== 200) {
    const error = await session.failure(parsed.registry, ref, res);
    if (error.codes.some((code) => missing.has(code))) return undefined;
    throw error;
  }
  const bytes = await session.body(res, maxManifestBytes, ref);
  const header = res.headers['docker-content-digest'];
  checkDigest(bytes, typeof header === 'string' && header !== '' ? header : undefined, ref);
  const digest = checkDigest(bytes, parsed.digest, ref);
  return { ref, repository: parsed.name, digest, mediaType: mediaTypeOf(res.headers['content-type'], bytes), bytes };
}

async function fetchChild(session: RegistrySession, repository: string, digest: string): Promise<Manifest> {
  const ref = `${repository}@${digest}`;
  const manifest = await fetchManifest(session, ref);
  if (!manifest) throw new RegistryError(`${ref}: the manifest of the index is missing`);
  return manifest;
}

function isAttestation(descriptor: Descriptor): boolean {
  return (
    descriptor.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' ||
    (descriptor.platform?.os === 'unknown' && descriptor.platform.architecture === 'unknown')
  );
}

async function labelsOf(session: RegistrySession, manifest: Manifest): Promise<Record<string, string>> {
  const content = parseContent(manifest);
  if (content.manifests) {
    const image = content.manifests.find((descriptor) => !isAttestation(descriptor));
    if (!image) throw new RegistryError(`${manifest.ref}: the index has no image manifest, only attestations`);
    return labelsOf(session, await fetchChild(session, manifest.repository, image.digest));
  }
  const config = await configOf(session, manifest, content);
  return Object.fromEntries(Object.entries(config.config?.Labels ?? {}).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}

interface ImageConfig {
  os?: string;
  architecture?: string;
  variant?: string;
  config?: { Labels?: Record<string, unknown> | null };
}

async function configOf(session: RegistrySession, manifest: Manifest, content: ManifestContent): Promise<ImageConfig> {
  if (!content.config) throw new RegistryError(`${manifest.ref}: ${manifest.mediaType} is not an image manifest`);
  const ref = parseReference(manifest.repository);
  const context = `${manifest.repository}@${content.config.digest}`;
  const res = await getBlob(session, ref, content.config.digest);
  if (res.statusCode !== 200) throw await session.failure(ref.registry, context, res);
  const bytes = await session.body(res, maxConfigBytes, context);
  checkDigest(bytes, content.config.digest, context);
  try {
    return JSON.parse(bytes.toString('utf8')) as ImageConfig;
  } catch {
    throw new RegistryError(`${context}: the image config is not JSON`);
  }
}

export interface PlatformDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

/**
 * What an index entry for this image is: an index's own entries (attestations included, as
 * they are), or one entry for a single manifest with the platform its config names.
 */
export async function indexEntries(manifest: Manifest, access: RegistryAccess): Promise<PlatformDescriptor[]> {
  const content = parseContent(manifest);
  if (content.manifests) return content.manifests as PlatformDescriptor[];
  const config = await withSession(access, (session) => configOf(session, manifest, content));
  const platform = { os: config.os ?? 'unknown', architecture: config.architecture ?? 'unknown', ...(config.variant ? { variant: config.variant } : {}) };
  return [{ mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.bytes.length, platform }];
}

/** Whether an index entry is an attestation manifest (BuildKit's provenance and SBOM), not an image. */
export function isAttestationEntry(descriptor: { platform?: { os?: string; architecture?: string }; annotations?: Record<string, string> }): boolean {
  return isAttestation(descriptor as Descriptor);
}

function getBlob(session: RegistrySession, ref: Reference, digest: string): Promise<IncomingMessage> {
  return session.request(ref.registry, { method: 'GET', target: `/v2/${ref.path}/blobs/${digest}`, scopes: [pull(ref)], context: `${ref.name}@${digest}` });
}

/** Whether repository `to` has the manifest or blob: HEAD 200 or 404. */
async function exists(session: RegistrySession, to: Reference, kind: 'manifests' | 'blobs', digest: string): Promise<boolean> {
  const context = `${to.name}@${digest}`;
  const headers = kind === 'manifests' ? { Accept: manifestTypes.join(', ') } : undefined;
  const res = await session.request(to.registry, { method: 'HEAD', target: `/v2/${to.path}/${kind}/${digest}`, headers, scopes: [push(to)], context });
  res.resume();
  if (res.statusCode === 200) return true;
  if (res.statusCode === 404) return false;
  throw await session.failure(to.registry, context, res);
}

/** Copies what the manifest references into `to`, children before the index that names them. */
async function copyReferenced(session: RegistrySession, manifest: Manifest, from: Reference, to: Reference): Promise<void> {
  const content = parseContent(manifest);
  for (const child of content.manifests ?? []) {
    if (await exists(session, to, 'manifests', child.digest)) continue;
    const copied = await fetchChild(session, manifest.repository, child.digest);
    await copyReferenced(session, copied, from, to);
    await uploadManifest(session, copied, to, child.digest, `${to.name}@${child.digest}`);
  }
  // Foreign layers (Windows base images) stay where their urls say.
  const blobs = [...(content.config ? [content.config] : []), ...(content.layers ?? [])].filter((blob) => !blob.urls?.length);
  for (const blob of blobs) await copyBlob(session, blob, from, to);
}

async function uploadManifest(session: RegistrySession, manifest: Manifest, to: Reference, reference: string, context: string): Promise<void> {
  const res = await session.request(to.registry, {
    method: 'PUT',
    target: `/v2/${to.path}/manifests/${reference}`,
    headers: { 'Content-Type': manifest.mediaType },
    body: manifest.bytes,
    scopes: [push(to)],
    context,
  });
  if (res.statusCode !== 201 && res.statusCode !== 200) throw await session.failure(to.registry, context, res);
  res.resume();
  const digest = res.headers['docker-content-digest'];
  if (typeof digest === 'string' && digest !== '' && digest !== manifest.digest)
    throw new RegistryError(`${context}: the registry stored ${digest}, not ${manifest.digest}`);
}

/**
 * Mounts the blob from the source repository when both are on one registry (201); when the
 * registry starts an upload instead (202), or across registries, streams the blob's GET into
 * the upload's PUT.
 */
async function copyBlob(session: RegistrySession, blob: Descriptor, from: Reference, to: Reference): Promise<void> {
  if (await exists(session, to, 'blobs', blob.digest)) return;
  const context = `${to.name}@${blob.digest}`;
  const mount = from.registry === to.registry;
  const scopes = mount ? [push(to), pull(from)] : [push(to)];
  const query = mount ? `?${new URLSearchParams({ mount: blob.digest, from: from.path })}` : '';
  const start = await session.request(to.registry, { method: 'POST', target: `/v2/${to.path}/blobs/uploads/${query}`, scopes, context });
  if (start.statusCode === 201) {
    start.resume();
    return;
  }
  const location = start.headers.location;
  if (start.statusCode !== 202 || !location) throw await session.failure(to.registry, context, start);
  start.resume();

  const source = await getBlob(session, from, blob.digest);
  if (source.statusCode !== 200) throw await session.failure(from.registry, `${from.name}@${blob.digest}`, source);
  const length = source.headers['content-length'];
  if (length !== undefined && Number(length) !== blob.size) {
    source.destroy();
    throw new RegistryError(`${from.name}@${blob.digest}: the registry sends ${length} bytes, the manifest says ${blob.size}`);
  }
  const target = `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(blob.digest)}`;
  const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': blob.size };
  const done = await session.request(to.registry, { method: 'PUT', target, headers, body: source, scopes, context });
  if (done.statusCode !== 201) throw await session.failure(to.registry, context, done);
  done.resume();
}

const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domain = `${domainComponent}(?:\\.${domainComponent})*(?::[0-9]+)?`;
const nameComponent = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const repository = `(?:${domain}/)?${nameComponent}(?:/${nameComponent})*`;
const tag = '[\\w][\\w.-]{0,127}';
const digest = '@sha256:[a-f0-9]{64}';
const repositoryRe = new RegExp(`^${repository}$`);
const referenceRe = new RegExp(`^${repository}(?::${tag})?(?:${digest})?$`);
const taggedRe = new RegExp(`^${repository}(?::${tag}|${digest}|:${tag}${digest})$`);

export interface ImageRefs {
  refs: string[];
  notices: string[];
  errors: string[];
}

/** An entry with `:` or `@` is a full reference; anything else is a tag of `image`. */
function isFullReference(entry: string): boolean {
  return entry.includes(':') || entry.includes('@');
}

/** Docker's tag grammar; branch names like `feature/x` become `feature-x`. */
export function sanitizeTag(raw: string): string {
  return raw
    .replace(/[^\w.-]/g, '-')
    .replace(/^[.-]+/, '')
    .slice(0, 128);
}

/**
 * The full image references to tag (and push) from `image` and `tags` (undefined: not given).
 * An empty tag (an unset `$BUILDKITE_TAG`) is skipped with a notice; `image:latest` is only
 * ever the default when no tags are given, never what is left when every given tag was empty.
 */
export function resolveImageRefs(image: string | undefined, given: string[] | undefined, latestByDefault = true): ImageRefs {
  const result: ImageRefs = { refs: [], notices: [], errors: [] };
  const tags: Array<{ entry: string; index: number }> = [];
  (given ?? []).forEach((entry, index) => {
    if (entry.trim() !== '') tags.push({ entry: entry.trim(), index });
    else result.notices.push(`tags${given && given.length > 1 ? `[${index}]` : ''}: empty (an unset variable?); skipped`);
  });
  if (image !== undefined && !referenceRe.test(image)) {
    result.errors.push(`image: expected a repository such as registry.example.com/team/app (lower case); got ${JSON.stringify(image)}`);
    return result;
  }
  const imageHasTag = image !== undefined && taggedRe.test(image) && !repositoryRe.test(image);
  tags.forEach(({ entry, index }) => {
    if (isFullReference(entry)) {
      if (referenceRe.test(entry)) result.refs.push(entry);
      else result.errors.push(`tags[${index}]: expected a tag or a full reference such as registry.example.com/app:1.0; got ${JSON.stringify(entry)}`);
      return;
    }
    if (image === undefined) {
      result.errors.push(
        `tags[${index}]: ${JSON.stringify(entry)} is a bare tag; set image, or give a full reference such as registry.example.com/app:${entry}`,
      );
      return;
    }
    if (imageHasTag) {
      result.errors.push(`image: ${JSON.stringify(image)} already has a tag or digest; give the repository alone when tags lists bare tags`);
      return;
    }
    const clean = sanitizeTag(entry);
    if (clean === '') {
      result.errors.push(`tags[${index}]: ${JSON.stringify(entry)} has no characters usable in a tag`);
      return;
    }
    if (clean !== entry) result.notices.push(`tags[${index}]: ${JSON.stringify(entry)} is not a valid tag; using ${JSON.stringify(clean)}`);
    result.refs.push(`${image}:${clean}`);
  });
  if (given !== undefined && given.length > 0 && tags.length === 0) {
    result.errors.push(
      'tags: every tag is empty (an unset variable such as $BUILDKITE_TAG?); not falling back to latest: give a tag, or leave tags out for image:latest',
    );
  } else if (tags.length === 0 && image !== undefined && latestByDefault) result.refs.push(imageHasTag ? image : `${image}:latest`);
  result.refs = [...new Set(result.refs)];
  return result;
}

/** `host/team/app:tag@sha256:...` → `host/team/app`. */
export function imageRepository(ref: string): string {
  const name = ref.split('@')[0] as string;
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? name.slice(0, colon) : name;
}

/** The registry host of an image reference, as Docker reads it (docker.io when none is named). */
export function registryHostOf(ref: string): string {
  const first = ref.split('/')[0] as string;
  return ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : 'docker.io';
}

/** The tag only this job writes: `<repository>:buildkite-<job id>`. */
export function jobTagRef(repository: string, jobId: string): string {
  return `${repository}:${sanitizeTag(`buildkite-${jobId}`)}`;
}

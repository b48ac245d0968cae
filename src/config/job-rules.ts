import { resolveImageRefs, sanitizeTag } from './image-refs';
import { Config } from './types';

type Env = Record<string, string | undefined>;

export type TagRule = 'sha' | 'branch' | 'semver' | 'latest';

/**
 * The configuration as it applies to this job: `tag-rules` add tags from the Buildkite
 * environment, and `push-branches` turn the push off on other branches. Both hooks load
 * the configuration with the job's environment, so both see the same.
 */
export function applyJobRules(config: Config, image: string | undefined, env: Env, notices: string[], errors: string[]): void {
  if (config.tagRules.length > 0) {
    const tags = ruleTags(config.tagRules, env, notices);
    const resolved = resolveImageRefs(image, tags, false);
    errors.push(...resolved.errors.map((error) => `tag-rules: ${error}`));
    config.refs = [...new Set([...config.refs, ...resolved.refs])];
    if (config.refs.length === 0 && config.push) {
      notices.push('tag-rules: no rule gives this build a tag (and tags gives none): it builds without pushing');
      config.push = false;
    }
  }
  if (config.pushBranches.length > 0 && !mayPush(config.pushBranches, env)) {
    const branch = env.BUILDKITE_BRANCH ?? '';
    const off = [config.push && 'push', config.scan && 'scan', config.skipUnchanged && 'skip-unchanged'].filter(Boolean);
    if (off.length > 0)
      notices.push(`push-branches: ${JSON.stringify(branch)} matches none of ${config.pushBranches.join(', ')}: building without ${off.join(', ')}`);
    config.push = false;
    config.scan = undefined;
    config.skipUnchanged = undefined;
    config.outputs = config.outputs.map((output) => ({ ...output, attrs: output.attrs.filter((attr) => attr.key !== 'push') }));
    config.outputs = config.outputs.filter((output) => output.type !== 'registry');
  }
}

/** The tags each rule gives this build (none when the environment lacks what a rule needs). */
export function ruleTags(rules: TagRule[], env: Env, notices: string[]): string[] {
  const tags: string[] = [];
  for (const rule of rules) {
    if (rule === 'sha') {
      const sha = env.BUILDKITE_COMMIT ?? '';
      if (/^[0-9a-f]{7,40}$/.test(sha)) tags.push(sha.slice(0, 7));
      else notices.push(`tag-rules: sha: BUILDKITE_COMMIT is ${JSON.stringify(sha)}, not a commit SHA; no sha tag`);
    } else if (rule === 'branch') {
      const branch = sanitizeTag(env.BUILDKITE_BRANCH ?? '');
      if (branch) tags.push(branch);
    } else if (rule === 'semver') {
      tags.push(...semverTags(env.BUILDKITE_TAG ?? '', notices));
    } else if (isDefaultBranch(env)) {
      tags.push('latest');
    }
  }
  return [...new Set(tags)];
}

/** semver.org's grammar: MAJOR.MINOR.PATCH, an optional pre-release and build metadata. */
const semverRe = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

/** `v1.2.3` → 1.2.3, 1.2, 1; a pre-release (`1.2.3-rc.1`) only its own version, never the moving ones. */
function semverTags(tag: string, notices: string[]): string[] {
  if (tag === '') return [];
  const version = semverRe.exec(tag);
  if (!version) {
    notices.push(`tag-rules: semver: BUILDKITE_TAG ${JSON.stringify(tag)} is not a semantic version; no semver tags`);
    return [];
  }
  const [, major, minor, patch, prerelease] = version;
  if (prerelease) return [sanitizeTag(`${major}.${minor}.${patch}-${prerelease}`)];
  return [`${major}.${minor}.${patch}`, `${major}.${minor}`, `${major}`];
}

function isDefaultBranch(env: Env): boolean {
  const branch = env.BUILDKITE_BRANCH;
  return Boolean(branch) && branch === env.BUILDKITE_PIPELINE_DEFAULT_BRANCH && !env.BUILDKITE_TAG && (env.BUILDKITE_PULL_REQUEST ?? 'false') === 'false';
}

/**
 * Branch globs, without a glob library in the environment hook's bundle: `*` and `?` stay
 * within one `/` segment, `**` crosses them.
 */
function mayPush(patterns: string[], env: Env): boolean {
  const branch = env.BUILDKITE_BRANCH ?? '';
  return patterns.some((pattern) => globRe(pattern).test(branch));
}

function globRe(pattern: string): RegExp {
  const source = pattern
    .split('**')
    .map((part) =>
      part
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '[^/]'),
    )
    .join('.*');
  return new RegExp(`^${source}$`);
}

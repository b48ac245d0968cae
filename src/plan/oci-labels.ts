import { KeyValue } from '../config/types';

type Env = Record<string, string | undefined>;

/** `https://user:token@host/x.git?access_token=t` → `https://host/x`; `git@host:org/x.git` → `https://host/org/x`. */
export function sourceUrl(repo: string): string | undefined {
  if (!repo) return undefined;
  const scp = /^[\w.-]+@([\w.-]+):(?!\/)(.+)$/.exec(repo);
  const ssh = /^(ssh|git|git\+ssh):\/\//.exec(repo);
  let url = scp ? `https://${scp[1]}/${scp[2]}` : ssh ? `https://${repo.slice(ssh[0].length)}` : repo;
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    // A token can ride in the query or the fragment too (?access_token=...).
    parsed.search = '';
    parsed.hash = '';
    // An ssh port says nothing about where the web pages are.
    if (ssh) parsed.port = '';
    url = parsed.toString();
  } catch {
    return undefined;
  }
  return url.replace(/\.git$/, '').replace(/\/$/, '');
}

/**
 * Labels describing where the image came from; the user's own labels win. `reproducible`:
 * `created` is the commit time (as passed), and the build URL, new in every build of the
 * same commit, is left out.
 */
export function ociLabels(env: Env, now: Date, userLabels: KeyValue[], reproducible = false): KeyValue[] {
  const labels: KeyValue[] = [];
  const add = (key: string, value: string | undefined) => {
    if (value && !userLabels.some((label) => label.key === key)) labels.push({ key, value });
  };
  add('org.opencontainers.image.source', sourceUrl(env.BUILDKITE_REPO ?? ''));
  add('org.opencontainers.image.revision', env.BUILDKITE_COMMIT && env.BUILDKITE_COMMIT !== 'HEAD' ? env.BUILDKITE_COMMIT : undefined);
  add('org.opencontainers.image.created', now.toISOString());
  if (!reproducible) add('com.buildkite.build-url', env.BUILDKITE_BUILD_URL);
  return labels;
}

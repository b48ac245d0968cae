/**
 * The agent's name for a plugin, and so the prefix of its flattened variables:
 * `buildkit#v1`, `org/buildkit#v1`, `github.com/org/buildkit-buildkite-plugin#v1.2.3` and
 * `./.buildkite/plugins/buildkit` all give `BUILDKIT`. Mirrors the agent's Plugin.Name().
 */
export function pluginEnvName(pluginKey: string): string {
  const location = (pluginKey.split('#')[0] ?? '').replace(/\\/g, '/').replace(/^[a-z]+:\/\//, '');
  const last =
    location
      .split('/')
      .filter((part) => part !== '')
      .pop() ?? '';
  const name = last
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .replace(/[^a-z0-9]/g, '-')
    .replace(/-buildkite-plugin-git/g, '')
    .replace(/-buildkite-plugin/g, '');
  return envKey(name);
}

/** The agent's formatEnvKey: upper-case, dashes and whitespace to underscores. */
export function envKey(key: string): string {
  return key.toUpperCase().replace(/[-\s]/g, '_');
}

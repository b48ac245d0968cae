import { KeyValue, SecretSource, SshEntry } from './types';

type Raw = Record<string, unknown>;

/** `secrets:` entries, each with exactly one source; ids unique. */
export function secretSources(value: unknown, errors: string[]): SecretSource[] {
  const result: SecretSource[] = [];
  const seen = new Set<string>();
  ((value ?? []) as Raw[]).forEach((raw, i) => {
    const id = raw.id as string;
    const sources = (['env', 'file', 'buildkite-secret'] as const).filter((key) => raw[key] !== undefined);
    if (sources.length !== 1) {
      errors.push(
        `secrets[${i}]: give exactly one of env, file or buildkite-secret for the secret ${id}${sources.length > 1 ? ` (got ${sources.join(' and ')})` : ''}`,
      );
      return;
    }
    if (seen.has(id)) errors.push(`secrets[${i}]: the id ${id} is used twice`);
    seen.add(id);
    const source = sources[0];
    const from = raw[source as string] as string;
    if (from === '') errors.push(`secrets[${i}].${source}: is empty`);
    result.push(source === 'env' ? { id, env: from } : source === 'file' ? { id, file: from } : { id, buildkiteSecret: from });
  });
  return result;
}

/** `ssh: true` is the agent's socket as `default`; list entries are `default` or `id=path[,path]`. */
export function sshEntries(value: unknown, errors: string[]): SshEntry[] {
  if (value === undefined || value === false) return [];
  if (value === true) return [{ id: 'default', paths: [] }];
  return (value as string[]).flatMap((entry, i) => {
    const eq = entry.indexOf('=');
    const id = eq === -1 ? entry : entry.slice(0, eq);
    const paths =
      eq === -1
        ? []
        : entry
            .slice(eq + 1)
            .split(',')
            .filter(Boolean);
    if (!/^[a-zA-Z0-9._-]+$/.test(id) || (eq !== -1 && paths.length === 0)) {
      errors.push(`ssh[${i}]: expected default, or ID=/path/to/key-or-socket; got ${JSON.stringify(entry)}`);
      return [];
    }
    return [{ id, paths }];
  });
}

/** Names that usually hold credentials: NPM_TOKEN, DB_PASSWORD, AWS_SECRET_ACCESS_KEY, ... */
const secretLooking = /(^|_)(TOKEN|PASSWORD|PASSWD|SECRET|KEY|CREDENTIALS?|APIKEY|AUTH)$/i;

/**
 * Build-args land in the image history (and in provenance with mode=max): refuse names that
 * look like secrets, unless allowed one by one.
 */
export function secretLookingBuildArgs(buildArgs: KeyValue[], allowed: string[]): string[] {
  return buildArgs
    .filter((arg) => secretLooking.test(arg.key) && !allowed.includes(arg.key))
    .map((arg) => {
      const id = arg.key.toLowerCase();
      return (
        `build-args: ${arg.key} looks like a secret, and build-args land in the image history (and in the provenance ` +
        `attestation with mode=max). Pass it as a build secret: secrets: [{ id: ${id}, env: ${arg.key} }] and ` +
        `RUN --mount=type=secret,id=${id} in the Dockerfile. If it is not a secret, allow the name: allow-build-args: [${arg.key}]`
      );
    });
}

import { list } from './list';

type Raw = Record<string, unknown>;

export interface AssumeRole {
  roleArn: string;
  sessionName?: string;
  durationSeconds?: number;
  /** With the job's OIDC token (AssumeRoleWithWebIdentity) instead of the agent's credentials. */
  oidc: boolean;
}

/** `ecr:`. `auto` (the default) logs in to the ECR registries the configuration names. */
export interface EcrSettings {
  mode: 'auto' | 'on' | 'off';
  accountIds: string[];
  region?: string;
  public: boolean;
  assumeRole?: AssumeRole;
}

/** `login:` entries: a registry, a user, and where the password is (never the password). */
export interface RegistryLogin {
  registry: string;
  username: string;
  passwordEnv?: string;
  passwordFile?: string;
}

export function ecrSettings(value: unknown, errors: string[]): EcrSettings {
  if (value === undefined) return { mode: 'auto', accountIds: [], public: false };
  if (value === false || value === true) return { mode: value ? 'on' : 'off', accountIds: [], public: false };
  const raw = value as Raw;
  const accountIds = list(raw['account-ids']);
  accountIds.forEach((id, i) => {
    if (!/^\d{12}$/.test(id)) errors.push(`ecr.account-ids[${i}]: expected a 12-digit AWS account id; got ${JSON.stringify(id)}`);
  });
  const role = raw['assume-role'] as Raw | undefined;
  return {
    mode: 'on',
    accountIds,
    region: raw.region as string | undefined,
    public: (raw.public ?? false) as boolean,
    assumeRole: role && {
      roleArn: role['role-arn'] as string,
      sessionName: role['session-name'] as string | undefined,
      durationSeconds: role['duration-seconds'] as number | undefined,
      oidc: (role.oidc ?? false) as boolean,
    },
  };
}

export function registryLogins(value: unknown, errors: string[]): RegistryLogin[] {
  const seen = new Set<string>();
  return ((value ?? []) as Raw[]).flatMap((raw, i) => {
    const registry = String(raw.registry)
      .replace(/^https?:\/\//, '')
      .replace(/\/+$/, '');
    const from = ['password-env', 'password-file'].filter((key) => raw[key] !== undefined);
    if (from.length !== 1) {
      errors.push(`login[${i}]: give exactly one of password-env or password-file for ${registry}${from.length > 1 ? ' (got both)' : ''}`);
      return [];
    }
    if (registry.includes('/') || !/^[a-zA-Z0-9.-]+(:\d+)?$/.test(registry)) {
      errors.push(`login[${i}].registry: expected a registry host such as registry.example.com or ghcr.io; got ${JSON.stringify(raw.registry)}`);
      return [];
    }
    if (seen.has(registry)) errors.push(`login[${i}]: ${registry} is listed twice`);
    seen.add(registry);
    return [
      {
        registry,
        username: raw.username as string,
        passwordEnv: raw['password-env'] as string | undefined,
        passwordFile: raw['password-file'] as string | undefined,
      },
    ];
  });
}

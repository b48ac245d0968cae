import { AssumeRole, RegistryLogin } from '../config/registry-auth';
import { Config } from '../config/types';
import { attrValue } from '../config/exporter';
import { registryHostOf } from '../config/image-refs';
import { BuildRequest } from './build-request';

/** A private ECR registry: `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`, or dual-stack `.on.aws`. */
export interface EcrRegistry {
  host: string;
  registryId: string;
  region: string;
}

/** Who the job logs in to, decided once from the configuration; no credentials in it. */
export interface LoginPlan {
  ecr: EcrRegistry[];
  /** public.ecr.aws, through ECR Public (always us-east-1). */
  ecrPublic: boolean;
  assumeRole?: AssumeRole;
  static: RegistryLogin[];
}

export const ecrPublicHost = 'public.ecr.aws';

const privateEcr = /^(\d{12})\.dkr[.-]ecr(?:-fips)?\.([a-z]{2}(?:-[a-z]+)+-\d+)\.(?:amazonaws\.com(?:\.cn)?|on\.aws)$/;

export function ecrRegistryOf(host: string): EcrRegistry | undefined {
  const match = privateEcr.exec(host);
  return match ? { host, registryId: match[1] as string, region: match[2] as string } : undefined;
}

/** The image names the build pushes or pulls by name: refs, and `name=` of image outputs. */
export function namedImages(request: BuildRequest): string[] {
  return [...request.refs, ...request.outputs.flatMap((output) => output.names)].map((name) => name.trim()).filter(Boolean);
}

/** Registry caches are read and written with the same login as images. */
function cacheRefs(request: BuildRequest): string[] {
  return [...request.cacheImports, ...request.cacheExports].filter((cache) => cache.type === 'registry').flatMap((cache) => attrValue(cache, 'ref') ?? []);
}

function regionHost(registryId: string, region: string): string {
  return `${registryId}.dkr.ecr.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
}

/** The logins of a job, or the problems that stop it (each naming its option). */
export function planLogins(config: Config, request: BuildRequest, env: Record<string, string | undefined>): { plan: LoginPlan; errors: string[] } {
  const errors: string[] = [];
  const { ecr: settings } = config;
  const hosts = [...new Set([...namedImages(request), ...cacheRefs(request)].map(registryHostOf))];
  const detected = settings.mode === 'off' ? [] : hosts.flatMap((host) => ecrRegistryOf(host) ?? []);
  const registries = [...detected];
  if (settings.accountIds.length > 0) {
    const region = settings.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? detected[0]?.region;
    if (!region) errors.push('ecr.account-ids: give ecr.region too (or set AWS_REGION): the registry of an account is per region');
    else for (const id of settings.accountIds) registries.push({ host: regionHost(id, region), registryId: id, region });
  }
  const ecr = registries.filter((registry, i) => registries.findIndex((r) => r.host === registry.host) === i);
  const ecrPublic = settings.mode !== 'off' && (settings.public || hosts.includes(ecrPublicHost));
  if (settings.mode === 'on' && settings.accountIds.length === 0 && ecr.length === 0 && !ecrPublic) {
    errors.push('ecr: no ECR registry is named in image, tags, outputs or cache; name the registries to log in to with ecr.account-ids (and ecr.region)');
  }
  for (const [i, login] of config.login.entries()) {
    if (ecr.some((registry) => registry.host === login.registry) || (ecrPublic && login.registry === ecrPublicHost)) {
      errors.push(`login[${i}]: ${login.registry} is an ECR registry the plugin logs in to itself; remove it from login (or set ecr: false)`);
    }
  }
  return { plan: { ecr, ecrPublic, assumeRole: settings.mode === 'off' ? undefined : settings.assumeRole, static: config.login }, errors };
}

/** Whether the job logs in anywhere (and so gets its own Docker config). */
export function logsIn(plan: LoginPlan): boolean {
  return plan.ecr.length > 0 || plan.ecrPublic || plan.static.length > 0;
}

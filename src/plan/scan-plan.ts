import { AssumeRole } from '../config/registry-auth';
import { ScanConfig } from '../config/scan';
import { Config } from '../config/types';
import { BuildRequest } from './build-request';
import { imageRepository, registryHostOf } from '../config/image-refs';
import { EcrRegistry, LoginPlan, ecrPublicHost, ecrRegistryOf, namedImages } from './registry-logins';

/** The private ECR repository whose pushed digest Amazon ECR scans. */
export interface EcrScanRepository {
  registry: EcrRegistry;
  /** The repository name inside the registry, e.g. `team/app`. */
  repository: string;
  assumeRole?: AssumeRole;
}

/** What runs after a successful build, before the step command. */
export interface ScanPlan {
  settings: ScanConfig;
  ecr?: EcrScanRepository;
}

/** `host/team/app:tag@sha256:...` → `team/app`. */
export function repositoryOf(ref: string): string {
  const name = imageRepository(ref);
  const host = registryHostOf(ref);
  return name.startsWith(`${host}/`) ? name.slice(host.length + 1) : name;
}

/** The scan of a job, or the problems that stop it (each naming its option). */
export function planScan(config: Config, request: BuildRequest, logins: LoginPlan): { plan?: ScanPlan; errors: string[]; notices: string[] } {
  const settings = config.scan;
  if (!settings) return { errors: [], notices: [] };
  if (!settings.ecr) return { plan: { settings }, errors: [], notices: [] };
  if (config.bake) return { errors: ['scan.ecr: with bake, each target is an image of its own; scan it in a step that builds that target'], notices: [] };
  if (!request.pushes) return { errors: ['scan.ecr: Amazon ECR scans the image after the push; set push: true'], notices: [] };
  const names = namedImages(request);
  const inEcr = names.flatMap((name) => {
    const registry = ecrRegistryOf(registryHostOf(name));
    return registry ? [{ registry, repository: repositoryOf(name) }] : [];
  });
  const first = inEcr[0];
  if (!first) {
    const host = registryHostOf(names[0] ?? '');
    const why = host === ecrPublicHost ? 'ECR Public has no image scanning' : `${names[0]} is on ${host}`;
    return {
      errors: [`scan.ecr: Amazon ECR scans images in private ECR repositories (<account>.dkr.ecr.<region>.amazonaws.com/<name>); ${why}`],
      notices: [],
    };
  }
  const others = [...new Set(inEcr.map((r) => `${r.registry.host}/${r.repository}`))].slice(1);
  const notices =
    others.length > 0 ? [`scan.ecr: scanning ${first.registry.host}/${first.repository}; the same digest in ${others.join(', ')} is not scanned again`] : [];
  return { plan: { settings, ecr: { ...first, assumeRole: logins.assumeRole } }, errors: [], notices };
}

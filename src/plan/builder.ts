import { Config } from '../config/types';
import { csvField } from './csv';
import { PlanError } from './plan-error';

type Env = Record<string, string | undefined>;

export type ImageStore = 'containerd' | 'classic';

/** Which BuildKit the build runs on, and the commands that set it up and tear it down. */
export interface BuilderPlan {
  driver: 'docker' | 'docker-container';
  name?: string;
  /** Run first: when it succeeds the builder exists already and is reused. */
  inspect?: string[];
  create?: string[];
  /** Registered for pre-exit, unless the builder is kept. */
  remove?: string[];
  notice?: string;
}

/** Whether the plan depends on the engine's image store (worth a `docker info`). */
export function imageStoreMatters(config: Config): boolean {
  return needsContainerBuilder(config, 'classic').length > 0;
}

/** What the classic (overlay2) image store's docker driver cannot do for this build. */
function needsContainerBuilder(config: Config, store: ImageStore | undefined): string[] {
  if (store !== 'classic') return [];
  const reasons: string[] = [];
  if (config.platforms.length > 1) reasons.push('a multi-platform build');
  const types = config.outputs.map((spec) => csvField(spec, 'type'));
  if (types.includes('oci')) reasons.push('an OCI layout output');
  const loads = config.load || types.includes('docker');
  if (!loads && (config.provenance || config.sbom)) reasons.push('attestations (provenance/sbom)');
  // Checked on a classic engine: the build succeeds but the pushed manifest has none.
  if (config.annotations.length > 0) reasons.push('annotations');
  return reasons;
}

export function planBuilder(config: Config, env: Env, store: ImageStore | undefined): BuilderPlan {
  const { builder } = config;
  const reasons = needsContainerBuilder(config, store);
  if (builder.driver === 'docker') {
    if (reasons.length > 0) {
      throw new PlanError(
        `builder.driver: the Docker engine's classic image store cannot do ${reasons.join(' or ')}. Either enable the ` +
          'containerd image store on the agent (daemon.json: {"features":{"containerd-snapshotter":true}}), or let the plugin ' +
          'use a per-job builder (builder.driver: auto or docker-container)',
      );
    }
    return { driver: 'docker' };
  }
  if (builder.driver === 'auto' && reasons.length === 0) return { driver: 'docker' };
  const name = builder.name ?? `buildkite-${(env.BUILDKITE_JOB_ID || 'local').replace(/[^a-zA-Z0-9_.-]/g, '-')}`;
  const create = ['docker', 'buildx', 'create', '--name', name, '--driver', 'docker-container'];
  if (builder.image) create.push('--driver-opt', `image=${builder.image}`);
  for (const opt of builder.driverOpts) create.push('--driver-opt', opt);
  if (builder.buildkitdFlags) create.push('--buildkitd-flags', builder.buildkitdFlags);
  create.push('--bootstrap');
  return {
    driver: 'docker-container',
    name,
    inspect: builder.keep ? ['docker', 'buildx', 'inspect', name] : undefined,
    create,
    remove: builder.keep ? undefined : ['docker', 'buildx', 'rm', '--force', name],
    notice:
      builder.driver === 'auto'
        ? `using a per-job docker-container builder (${name}): the engine's classic image store cannot do ${reasons.join(' or ')}`
        : undefined,
  };
}

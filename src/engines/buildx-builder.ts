import { writeCsvRecord } from '../config/csv';
import { goDurationSeconds } from '../config/duration';
import { BuilderConfig } from '../config/types';
import { Step } from '../plan/step';
import { versionMatters } from '../plan/version-gates';
import { buildxStep } from './buildx-step';
import { dockerHint } from './docker-hints';
import { Engine, EngineInput, Facts } from './engine';
import { kubernetesHint } from './kubernetes-hints';
import { remoteHint } from './remote-hints';
import { chosenEndpoint } from './remote-endpoints';
import { TlsFiles, tlsFiles } from './tls';

type Env = Record<string, string | undefined>;

export function builderName(builder: BuilderConfig, env: Env): string {
  return builder.name ?? `buildkite-${(env.BUILDKITE_JOB_ID || 'local').replace(/[^a-zA-Z0-9_.-]/g, '-')}`;
}

interface BuilderSpec {
  name: 'docker-container' | 'buildx-remote' | 'buildx-kubernetes';
  /** The `buildx create` (and `--append`) steps. */
  create: (input: EngineInput, facts: Facts, builder: string) => Step[];
  limits?: (input: EngineInput) => string[];
  hint?: (outputTail: string[]) => string | undefined;
  /** A remote endpoint builds: it is probed, exported as BUILDKIT_HOST and reported. */
  remote?: boolean;
  /** Its driver options depend on the buildx release (checked in the command hook). */
  optionsNeedBuildxVersion?: boolean;
}

/** A buildx builder the job creates: per job (removed by pre-exit), or kept by name. */
function buildxBuilderEngine(spec: BuilderSpec): Engine {
  return {
    name: spec.name,
    facts: ({ config, request }) => [
      ...(spec.remote ? (['endpoints'] as const) : []),
      ...(!config.dryRun && (spec.optionsNeedBuildxVersion || versionMatters(request, 'buildx')) ? (['buildxVersion'] as const) : []),
    ],
    limits(input) {
      const limits = spec.limits?.(input) ?? [];
      // A kept builder is found by its name and reused whole: appended nodes would be added again.
      if (input.config.builder.keep && input.config.builder.nodes.length > 1) {
        limits.unshift('builder.keep: a kept builder is reused as it is; with builder.nodes, let each job create its own');
      }
      return limits;
    },
    setup(input, facts) {
      const { builder } = input.config;
      const builderId = builderName(builder, input.env);
      const group = `:docker: Setting up builder ${builderId}`;
      const steps = spec.create(input, facts, builderId);
      const [first, ...rest] = steps;
      if (!first) return [];
      if (builder.keep) {
        return [
          {
            ...first,
            group,
            reuseIf: { argv: ['docker', 'buildx', 'inspect', builderId], notice: `reusing the kept builder ${builderId}` },
            // Kept builders are shared: another job on this agent may create it after our inspect.
            doneByOtherJob: {
              text: `existing instance for "${builderId}"`,
              notice: `the kept builder ${builderId} was just created by another job; reusing it`,
            },
          },
          ...rest,
        ];
      }
      const remove = ['docker', 'buildx', 'rm', '--force', builderId];
      return [
        // Registered before the builder exists, so pre-exit removes even a half-created one;
        // a builder of the same name left by a crashed job goes first.
        {
          title: `removing a builder ${builderId} left by an earlier job`,
          argv: remove,
          group,
          quiet: true,
          cleanup: { argv: remove, title: `removing builder ${builderId}` },
        },
        ...steps,
      ];
    },
    build: (input) => buildxStep(input, builderName(input.config.builder, input.env)),
    after: () => [],
    exports: (input, facts): Record<string, string> => (spec.remote ? { BUILDKIT_HOST: chosenEndpoint(input, facts) } : {}),
    builtOn: (input, facts) => (spec.remote ? chosenEndpoint(input, facts) : undefined),
    // The probed BuildKit is the engine's; this builder brings its own.
    buildkitVersion: () => undefined,
    hint: (tail) => spec.hint?.(tail) ?? dockerHint(tail),
  };
}

/** buildx's `docker-container` driver: a buildkitd container on the agent's Docker engine. */
export const dockerContainerEngine = buildxBuilderEngine({
  name: 'docker-container',
  create: ({ config }, _facts, builder) => {
    const argv = ['docker', 'buildx', 'create', '--name', builder, '--driver', 'docker-container'];
    if (config.builder.image) argv.push('--driver-opt', `image=${config.builder.image}`);
    for (const opt of config.builder.driverOpts) argv.push('--driver-opt', opt);
    if (config.builder.buildkitdFlags) argv.push('--buildkitd-flags', config.builder.buildkitdFlags);
    argv.push('--bootstrap');
    return [{ title: `creating the builder ${builder}`, argv }];
  },
});

/** buildx's `remote` driver: remote buildkitds, one per endpoint, or one per platform (nodes, appended). */
export const buildxRemoteEngine = buildxBuilderEngine({
  name: 'buildx-remote',
  remote: true,
  hint: remoteHint,
  limits: remoteBuilderLimits,
  create: (input, facts, builder) => {
    const { config } = input;
    const stateDir = input.request.stateDir;
    const nodes =
      config.builder.nodes.length > 0
        ? config.builder.nodes.map((node, i) => ({
            endpoint: node.endpoint,
            platforms: node.platforms,
            tls: tlsFiles(node.tls, input.env, stateDir, `node${i}-`),
          }))
        : [{ endpoint: chosenEndpoint(input, facts), platforms: [] as string[], tls: tlsFiles(config.builder.tls, input.env, stateDir, '') }];
    const steps: Step[] = nodes.map((node, i) => {
      const argv = ['docker', 'buildx', 'create', '--name', builder, ...(i > 0 ? ['--append'] : []), '--driver', 'remote'];
      for (const opt of [...tlsDriverOpts(node.tls), ...config.builder.driverOpts]) argv.push('--driver-opt', opt);
      if (node.platforms.length > 0) argv.push('--platform', node.platforms.join(','));
      if (i === nodes.length - 1) argv.push('--bootstrap');
      argv.push(node.endpoint ?? '');
      return {
        title: i === 0 ? `creating the builder ${builder} on ${node.endpoint}` : `appending ${node.endpoint} to the builder ${builder}`,
        argv,
        files: node.tls.files,
      };
    });
    return steps;
  },
});

function remoteBuilderLimits({ config }: EngineInput): string[] {
  const { builder } = config;
  const tls = [builder.tls, ...builder.nodes.map((node) => node.tls)];
  if (!builder.keep || !tls.some((t) => [t?.ca, t?.cert, t?.key].some((v) => v?.startsWith('env:')))) return [];
  return ['builder.keep: a kept remote builder keeps reading its TLS files, and env: values are written to files that pre-exit removes; give file paths'];
}

function tlsDriverOpts(tls: TlsFiles): string[] {
  const opts: string[] = [];
  if (tls.ca) opts.push(`cacert=${tls.ca}`);
  if (tls.cert) opts.push(`cert=${tls.cert}`);
  if (tls.key) opts.push(`key=${tls.key}`);
  if (tls.servername) opts.push(`servername=${tls.servername}`);
  return opts;
}

/**
 * buildx's `kubernetes` driver: BuildKit Deployments in the cluster (the kubeconfig, or the
 * pod's service account), sticky load balancing for cache locality unless told otherwise,
 * and with builder.nodes one Deployment per platform, appended.
 */
export const buildxKubernetesEngine = buildxBuilderEngine({
  name: 'buildx-kubernetes',
  optionsNeedBuildxVersion: true,
  hint: kubernetesHint,
  create: ({ config }, _facts, builder) => {
    const base = [
      ...(config.builder.image ? [`image=${config.builder.image}`] : []),
      ...(config.builder.driverOpts.some((opt) => opt.startsWith('loadbalance=')) ? [] : ['loadbalance=sticky']),
      ...config.builder.driverOpts,
    ];
    const nodes =
      config.builder.nodes.length > 0
        ? config.builder.nodes.map((node) => ({ platforms: node.platforms, opts: [...base, ...node.driverOpts] }))
        : [{ platforms: [] as string[], opts: base }];
    return nodes.map((node, i) => {
      const argv = ['docker', 'buildx', 'create', '--name', builder, ...(i > 0 ? ['--append'] : []), '--driver', 'kubernetes'];
      // Each --driver-opt is CSV to buildx: a value with commas (nodeselector=a=b,c=d) is quoted whole.
      for (const opt of node.opts) argv.push('--driver-opt', writeCsvRecord([opt]));
      if (config.builder.buildkitdFlags) argv.push('--buildkitd-flags', config.builder.buildkitdFlags);
      if (node.platforms.length > 0) argv.push('--platform', node.platforms.join(','));
      if (i === nodes.length - 1) argv.push('--bootstrap');
      const title =
        i === 0 ? `creating the builder ${builder} in Kubernetes` : `appending a Deployment for ${node.platforms.join(', ')} to the builder ${builder}`;
      return { title, argv, timeoutMs: readinessMs(node.opts) };
    });
  },
});

/** How long creating waits for the pods: buildx's own `timeout` (0.15+) and a margin, else 3 minutes. */
function readinessMs(opts: string[]): number {
  const timeout = opts
    .filter((opt) => opt.startsWith('timeout='))
    .pop()
    ?.slice('timeout='.length);
  return ((timeout ? goDurationSeconds(timeout) : 150) + 30) * 1000;
}

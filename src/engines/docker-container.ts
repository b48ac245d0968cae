import { readBuildMetadata } from '../report/build-metadata';
import { BuilderConfig } from '../config/types';
import { versionMatters } from '../plan/version-gates';
import { Step } from '../plan/step';
import { buildxStep } from './buildx-step';
import { dockerHint } from './docker-hints';
import { Engine, EngineInput } from './engine';

type Env = Record<string, string | undefined>;

/** A buildx `docker-container` builder: per job (removed by pre-exit), or kept by name. */
export const dockerContainerEngine: Engine = {
  name: 'docker-container',
  facts: ({ config, request }) => (!config.dryRun && versionMatters(request, 'buildx') ? ['buildxVersion'] : []),
  limits: () => [],
  setup({ config, env }) {
    const { builder } = config;
    const name = builderName(builder, env);
    const group = `:docker: Setting up builder ${name}`;
    const create: Step = { title: `creating the builder ${name}`, argv: createArgv(builder, name), group };
    if (builder.keep) {
      return [
        {
          ...create,
          reuseIf: { argv: ['docker', 'buildx', 'inspect', name], notice: `reusing the kept builder ${name}` },
          // Kept builders are shared: another job on this agent may create it after our inspect.
          doneByOtherJob: { text: `existing instance for "${name}"`, notice: `the kept builder ${name} was just created by another job; reusing it` },
        },
      ];
    }
    const remove = ['docker', 'buildx', 'rm', '--force', name];
    return [
      // Registered before the builder exists, so pre-exit removes even a half-created one;
      // a builder of the same name left by a crashed job goes first.
      {
        title: `removing a builder ${name} left by an earlier job`,
        argv: remove,
        group,
        quiet: true,
        cleanup: { argv: remove, title: `removing builder ${name}` },
      },
      create,
    ];
  },
  build: (input: EngineInput) => buildxStep(input, builderName(input.config.builder, input.env)),
  // The probed BuildKit is the engine's; this builder brings its own.
  buildkitVersion: () => undefined,
  readResult: readBuildMetadata,
  hint: dockerHint,
};

export function builderName(builder: BuilderConfig, env: Env): string {
  return builder.name ?? `buildkite-${(env.BUILDKITE_JOB_ID || 'local').replace(/[^a-zA-Z0-9_.-]/g, '-')}`;
}

function createArgv(builder: BuilderConfig, name: string): string[] {
  const argv = ['docker', 'buildx', 'create', '--name', name, '--driver', 'docker-container'];
  if (builder.image) argv.push('--driver-opt', `image=${builder.image}`);
  for (const opt of builder.driverOpts) argv.push('--driver-opt', opt);
  if (builder.buildkitdFlags) argv.push('--buildkitd-flags', builder.buildkitdFlags);
  argv.push('--bootstrap');
  return argv;
}

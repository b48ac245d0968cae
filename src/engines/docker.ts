import { versionMatters } from '../plan/version-gates';
import { buildxStep } from './buildx-step';
import { classicStoreLimits, dockerDriverLimits } from './classic-store';
import { dockerHint } from './docker-hints';
import { Engine, Fact } from './engine';

/** The Docker engine's own BuildKit, through buildx's `docker` driver. */
export const dockerEngine: Engine = {
  name: 'docker',
  facts({ config, request }) {
    const facts: Fact[] = [];
    if (classicStoreLimits(request).length > 0) facts.push('imageStore');
    if (!config.dryRun && versionMatters(request, 'buildx')) facts.push('buildxVersion');
    if (!config.dryRun && versionMatters(request, 'BuildKit')) facts.push('buildkitVersion');
    return facts;
  },
  limits: ({ request }, facts) => [...(facts.imageStore === 'classic' ? classicStoreLimits(request) : []), ...dockerDriverLimits(request)],
  setup: () => [],
  // This BuildKit stores what it pushes in the engine's image store too (both stores): --load
  // beside --push exports it twice, and the containerd store refuses one ("already exists").
  build: (input) => buildxStep(input.request.pushes && !input.request.explicitOutputs ? { ...input, request: { ...input.request, loads: false } } : input),
  after: () => [],
  exports: () => ({}),
  builtOn: () => undefined,
  buildkitVersion: (facts) => facts.buildkitVersion,
  hint: dockerHint,
};

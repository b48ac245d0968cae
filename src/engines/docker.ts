import { versionMatters } from '../plan/version-gates';
import { buildingTitle, buildxStep, pushRetry } from './buildx-step';
import { classicStoreLimits, dockerDriverLimits } from './classic-store';
import { dockerHint } from './docker-hints';
import { Engine, Fact } from './engine';
import { jobTagPush, jobTagSteps } from './job-tag';

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
  // A push names only the job's own tag (see job-tag.ts): parallel jobs pushing one tag.
  build: (input) => {
    const pushing = input.request.pushes && !input.request.explicitOutputs;
    const own = jobTagPush(input);
    const request = { ...input.request, ...(pushing ? { loads: false } : {}), ...(own ? { refs: [own.jobRef] } : {}) };
    const step = buildxStep({ ...input, request });
    if (!own) return step;
    // The log names the public tags, as before.
    const title = buildingTitle(input.request);
    return { ...step, title, group: title };
  },
  after: (input) => {
    const own = jobTagPush(input);
    return own ? jobTagSteps(own, pushRetry(input.request, input.config.retries)) : [];
  },
  exports: () => ({}),
  builtOn: () => undefined,
  buildkitVersion: (facts) => facts.buildkitVersion,
  hint: dockerHint,
};

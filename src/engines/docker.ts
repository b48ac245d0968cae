import { BuildRequest } from '../plan/build-request';
import { versionMatters } from '../plan/version-gates';
import { buildingTitle, buildxStep, pushRetry } from './buildx-step';
import { classicStoreLimits, dockerDriverLimits } from './classic-store';
import { dockerHint } from './docker-hints';
import { Engine, Fact } from './engine';
import { jobTagPush, jobTagSteps } from './job-tag';

/**
 * What this engine can be asked. It stores what it pushes in the engine's image store too
 * (both stores): --load beside --push exports it twice, and the containerd store refuses one
 * ("already exists"). It refuses push-by-digest (buildx 0.13: "not implemented for docker
 * driver"): it pushes the job's own tag instead, and the digest is recorded as ever.
 */
function dockerDriverRequest(given: BuildRequest): BuildRequest {
  // rewrite-timestamp: "exporter option rewrite-timestamp conflicts with unpack" (the engine
  // unpacks what it stores): only SOURCE_DATE_EPOCH applies, and choose.ts warns.
  const request = given.rewriteTimestamp ? { ...given, rewriteTimestamp: false } : given;
  if (request.pushByDigest) return { ...request, refs: [request.pushByDigest.jobTag], outputs: [], explicitOutputs: false, pushes: true, loads: false };
  return request.pushes && !request.explicitOutputs ? { ...request, loads: false } : request;
}

/** The Docker engine's own BuildKit, through buildx's `docker` driver. */
export const dockerEngine: Engine = {
  name: 'docker',
  facts({ config, request }) {
    const facts: Fact[] = [];
    if (classicStoreLimits(request).length > 0) facts.push('imageStore');
    if (!config.dryRun && versionMatters(request, 'buildx')) facts.push('buildxVersion');
    if (!config.dryRun && versionMatters(dockerDriverRequest(request), 'BuildKit')) facts.push('buildkitVersion');
    return facts;
  },
  limits: ({ request }, facts) => [...(facts.imageStore === 'classic' ? classicStoreLimits(request) : []), ...dockerDriverLimits(request)],
  setup: () => [],
  // A push names only the job's own tag (see job-tag.ts): parallel jobs pushing one tag. A
  // push by digest pushes the job's own tag already.
  build: (input) => {
    const request = dockerDriverRequest(input.request);
    const own = request.pushByDigest ? undefined : jobTagPush({ ...input, request });
    const step = buildxStep({ ...input, request: own ? { ...request, refs: [own.jobRef] } : request });
    if (!own) return step;
    // The log names the public tags, as before.
    const title = buildingTitle(input.request);
    return { ...step, title, group: title };
  },
  after: (input) => {
    const own = input.request.pushByDigest ? undefined : jobTagPush(input);
    return own ? jobTagSteps(own, pushRetry(input.request, input.config.retries)) : [];
  },
  exports: () => ({}),
  builtOn: () => undefined,
  buildkitVersion: (facts) => facts.buildkitVersion,
  hint: dockerHint,
};

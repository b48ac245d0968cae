import { imageRepository, jobTagRef } from '../config/image-refs';
import { Step } from '../plan/step';
import { EngineInput } from './engine';

/** A push through the Docker engine under a name of this job only. */
export interface JobTagPush {
  /** `<repository of the first ref>:buildkite-<job id>`: the only name the build gives its image. */
  jobRef: string;
  /** The names the job pushes (the inputs tag too): tagged and pushed after the build. */
  refs: string[];
}

/**
 * Why: with the `docker` driver, buildx does not take the pushed digest from BuildKit. It
 * names the image `<tag>` in the engine's store, runs `docker push <tag>`, then asks the engine
 * what `<tag>` is (remoteDigestWithMoby: ImageInspect and DistributionInspect by name) and
 * overwrites `containerimage.digest` with that. Parallel jobs pushing the same tag to one
 * engine rename each other's image in between, so a job reported (and pushed) another job's
 * image, and the containerd store refused a name another job had just created ("already
 * exists").
 *
 * So the build names only a tag of this job (no other job writes it): buildx pushes it and
 * reports its digest, which is this job's own. The public names come after, from that name
 * (jobTagSteps). Only plain pushes through the engine: not bake (its names are in the bake
 * files), not `outputs` (the user's exporters), and only under a Buildkite job id.
 */
export function jobTagPush({ config, request, env }: EngineInput): JobTagPush | undefined {
  const jobId = env.BUILDKITE_JOB_ID?.trim();
  const first = request.refs[0];
  if (!request.pushes || request.explicitOutputs || config.bake || !jobId || first === undefined) return undefined;
  return { jobRef: jobTagRef(imageRepository(first), jobId), refs: request.refs };
}

/**
 * After the build: each public name given to the job's image in the engine, then pushed (the
 * layers are there already: only the tag is new), then the job's own name untagged in the
 * engine. A name is the last job's to take it, in the engine and in the registry: the
 * containerd store fails a `docker tag` when another job created the name at that moment
 * ("already exists"), and the name is then that job's image, as if it had come a moment later.
 * The digest the job reports is its own either way.
 */
export function jobTagSteps({ jobRef, refs }: JobTagPush, retry?: Step['retry']): Step[] {
  return [
    ...refs.flatMap((ref): Step[] => [
      {
        title: `:docker: Tagging ${ref}`,
        argv: ['docker', 'tag', jobRef, ref],
        doneByOtherJob: { text: 'already exists', notice: `another job named ${ref} in the engine at the same moment; it pushes that name` },
      },
      { title: `:docker: Pushing ${ref}`, argv: ['docker', 'push', ref], retry: sameTagRetry(retry) },
    ]),
    { title: `Removing the name ${jobRef} from the engine`, argv: ['docker', 'image', 'rm', jobRef], quiet: true },
  ];
}

/** Permanent: a retry only repeats it. */
const refused = /denied|unauthori[sz]ed|authentication required|no basic auth|forbidden|invalid reference/i;

/**
 * Another job tagging and pushing the same name at the same moment can fail this push: the
 * containerd store replaces a name by deleting it first ("tag does not exist" meanwhile), and
 * a registry may answer a write of a tag being written with an error (500 here). The push
 * retries then (the layers are there already), besides what the build's own rule retries.
 */
function sameTagRetry(retry?: Step['retry']): Step['retry'] {
  return {
    attempts: Math.max(3, retry?.attempts ?? 0),
    when: (tail) => retry?.when(tail) === true || !refused.test(tail.join('\n')),
    what: 'the push of the tag failed (another job may have pushed it at the same moment)',
  };
}

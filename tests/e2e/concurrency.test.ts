import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { platformManifests, registryBlob, registryManifest, runPipelineStep, scratchDir, testRegistry } from './support';

jest.setTimeout(300_000);

const registry = testRegistry();
const jobs = 4;
const rounds = Number(process.env.CONCURRENCY_ROUNDS ?? 10);

/** The `job` label of the image a digest names (for an index, its image manifest's config). */
async function jobLabelOf(repo: string, digest: string): Promise<string | undefined> {
  let { manifest } = await registryManifest(registry, repo, digest);
  if (manifest.manifests) {
    const image = Object.values(platformManifests(manifest))[0];
    if (!image) return undefined;
    manifest = (await registryManifest(registry, repo, image.digest)).manifest;
  }
  if (!manifest.config) return undefined;
  const config = JSON.parse((await registryBlob(registry, repo, manifest.config.digest)).toString('utf8')) as { config?: { Labels?: Record<string, string> } };
  return config.config?.Labels?.job;
}

/**
 * One round: `jobs` jobs of a `parallelism` step at once, on one engine, pushing the same
 * tag (interpolated at upload, so identical). Each image differs (its file, and a label
 * naming the job). Returns, per job, what went wrong: nothing when it reported its own image.
 */
async function round(repo: string, n: number, processEnv: Record<string, string>): Promise<{ wrong: string[]; digests: string[] }> {
  const runs = await Promise.all(
    Array.from({ length: jobs }, async (_, i) => {
      const dir = scratchDir('buildkit-e2e-concurrency-');
      writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nARG BUILDKITE_JOB_ID\nLABEL job=$BUILDKITE_JOB_ID\nCOPY f /f\n');
      writeFileSync(join(dir, 'f'), `round ${n} job ${i} ${Date.now()}\n`);
      const jobId = `job-par-${n}-${i}-${process.pid}`;
      const run = await runPipelineStep(
        dir,
        {
          key: 'par',
          config: { image: `${registry}/${repo}`, tags: ['$BUILDKITE_BUILD_NUMBER'], push: true, network: 'none', 'build-args': ['BUILDKITE_JOB_ID'] },
        },
        {
          env: { BUILDKITE_BUILD_NUMBER: '1', BUILDKITE_JOB_ID: jobId, BUILDKITE_PARALLEL_JOB: String(i), BUILDKITE_PARALLEL_JOB_COUNT: String(jobs) },
          processEnv,
        },
      );
      return { run, jobId, i };
    }),
  );
  const wrong: string[] = [];
  const digests: string[] = [];
  for (const { run, jobId, i } of runs) {
    if (run.code !== 0) {
      wrong.push(`round ${n} job ${i} failed (exit ${run.code}): ${run.output.split('\n').slice(-30, -1).join('\n')}`);
      continue;
    }
    const digest = run.result.metaData[`buildkit.par.${i}.digest`] ?? '';
    digests.push(digest);
    const made = /^sha256:[a-f0-9]{64}$/.test(digest) ? await jobLabelOf(repo, digest).catch((error: Error) => `no job (${error.message})`) : undefined;
    if (made !== jobId) wrong.push(`round ${n} job ${i} reported ${digest}, the image of ${made ?? 'no job'}`);
  }
  return { wrong, digests };
}

async function rounds10(name: string, processEnv: Record<string, string>): Promise<void> {
  const repo = `e2e/par-${name}-${Date.now()}`;
  const wrong: string[] = [];
  for (let n = 1; n <= rounds; n++) {
    const result = await round(repo, n, processEnv);
    wrong.push(...result.wrong);
    // The public tag is one of this round's images (the last job to tag it wins).
    if (result.wrong.length === 0) {
      const tagged = await registryManifest(registry, repo, '1');
      expect(result.digests).toContain(tagged.digest);
    }
  }
  // Every job of every round succeeded and reported the image it built.
  expect(wrong).toEqual([]);
}

describe('parallel jobs pushing the same tag on one engine', () => {
  test(`each of ${jobs} jobs reports the digest of its own image, ${rounds} rounds (containerd image store)`, async () => {
    await rounds10('containerd', {});
  });

  const classic = process.env.BUILDKIT_TEST_CLASSIC_DOCKER_HOST;
  (classic ? test : test.skip)(`the same on the classic image store`, async () => {
    await rounds10('classic', { DOCKER_HOST: classic as string });
  });
});

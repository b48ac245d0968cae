import { pluginEnv } from '../../src/cli/plugin-env';
import { loadConfig } from '../../src/config/load-config';
import { jobTagPush, jobTagSteps } from '../../src/engines/job-tag';
import { planBuildRequest } from '../../src/plan/build-request';
import { planJob } from '../../src/plan/plan';

const stateDir = '/state/job';
const now = new Date('2026-01-02T03:04:05Z');
const job = { BUILDKITE_JOB_ID: '0190a1b2-c3d4-4e5f-8a9b-0c1d2e3f4a5b' };

function planFor(config: Record<string, unknown>, env: Record<string, string> = job) {
  const loaded = loadConfig(pluginEnv('buildkit#v1', { 'oci-labels': false, ...config }, 'json'));
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const plan = planJob(loaded.config, planBuildRequest(loaded.config, env, stateDir, now), env, { dockerCli: true });
  return { plan, own: jobTagPush({ config: loaded.config, request: plan.request, env }) };
}

const tagsOf = (argv: string[]) => argv.flatMap((arg, i) => (argv[i - 1] === '--tag' ? [arg] : []));

describe('a push through the Docker engine names only the job’s own tag, then tags and pushes the public names', () => {
  test('the build tags and pushes <repository>:buildkite-<job id>; the public names come after', () => {
    const { plan, own } = planFor({ image: 'reg.example/team/app', tags: ['7', 'latest'], push: true });
    expect(plan.engine.name).toBe('docker');
    expect(own).toEqual({
      jobRef: `reg.example/team/app:buildkite-${job.BUILDKITE_JOB_ID}`,
      refs: ['reg.example/team/app:7', 'reg.example/team/app:latest'],
    });
    expect(tagsOf(plan.build.argv)).toEqual([own?.jobRef]);
    expect(plan.build.argv).toContain('--push');
    expect(plan.build.argv).not.toContain('--load');
    // The log still names the public tags.
    expect(plan.build.title).toBe(':docker: Building reg.example/team/app:7, reg.example/team/app:latest');
    expect(plan.after.map((step) => step.argv)).toEqual([
      ['docker', 'tag', own?.jobRef, 'reg.example/team/app:7'],
      ['docker', 'push', 'reg.example/team/app:7'],
      ['docker', 'tag', own?.jobRef, 'reg.example/team/app:latest'],
      ['docker', 'push', 'reg.example/team/app:latest'],
      ['docker', 'image', 'rm', own?.jobRef],
    ]);
    expect(plan.after[4]?.quiet).toBe(true);
    // A push of a tag another job pushes at the same moment may fail: retried, unless refused.
    const retry = plan.after[1]?.retry;
    expect(retry?.attempts).toBeGreaterThanOrEqual(3);
    expect(retry?.when(['unexpected status from HEAD request to http://r/v2/app/manifests/1: 500 Internal Server Error'])).toBe(true);
    expect(retry?.when(['denied: requested access to the resource is denied'])).toBe(false);
    expect(retry?.when(['tag does not exist: r/app:1'])).toBe(true);
    // Another job naming the same tag in the engine at that moment is not a failure.
    expect(plan.after[0]?.doneByOtherJob?.text).toBe('already exists');
  });

  test('a job id that is not a tag is made one', () => {
    const { own } = planFor({ image: 'localhost:5000/app:v1', push: true }, { BUILDKITE_JOB_ID: 'local/run 1' });
    expect(own?.jobRef).toBe('localhost:5000/app:buildkite-local-run-1');
  });

  test.each<[string, Record<string, unknown>, Record<string, string>]>([
    ['no push', { image: 'reg.example/app', tags: ['1'] }, job],
    ['load only', { image: 'reg.example/app', tags: ['1'], load: true }, job],
    ['user outputs', { image: 'reg.example/app', tags: ['1'], outputs: ['type=image,push=true'] }, job],
    ['no job id', { image: 'reg.example/app', tags: ['1'], push: true }, {}],
    [
      'a per-job builder (BuildKit reports the digest it pushed)',
      { image: 'reg.example/app', tags: ['1'], push: true, builder: { driver: 'docker-container' } },
      job,
    ],
  ])('unchanged: %s', (_, config, env) => {
    const { plan, own } = planFor(config, env);
    if (plan.engine.name === 'docker') expect(own).toBeUndefined();
    expect(tagsOf(plan.build.argv)).toEqual(['reg.example/app:1']);
    expect(plan.after.filter((step) => ['tag', 'push'].includes(step.argv[1] ?? ''))).toEqual([]);
  });

  test('jobTagSteps: docker tag and push per name, then the job name removed', () => {
    expect(jobTagSteps({ jobRef: 'r/a:buildkite-j', refs: ['r/a:1'] }).map((step) => step.argv)).toEqual([
      ['docker', 'tag', 'r/a:buildkite-j', 'r/a:1'],
      ['docker', 'push', 'r/a:1'],
      ['docker', 'image', 'rm', 'r/a:buildkite-j'],
    ]);
  });
});

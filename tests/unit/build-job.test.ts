import { buildWritesMetadata, commandHook, digest } from '../support/command-hook';
import { fakeRuntime } from '../support/fake-runtime';

const argvs = (calls: Array<{ argv: string[] }>) => calls.map((c) => c.argv.slice(0, 3).join(' '));

describe('runBuildJob in-process: the sequence of a job', () => {
  test('setup, build, report, then the step command with the results in its environment', async () => {
    const job = await commandHook({ image: 'r/app', tags: ['1'], push: true, builder: { driver: 'docker-container' } });
    expect(job.code).toBe(0);
    expect(argvs(job.calls)).toEqual(['docker buildx rm', 'docker buildx create', 'docker buildx build', '/bin/bash -e -c']);
    expect(job.metaData).toEqual({ 'buildkit.app.digest': digest, 'buildkit.app.image-refs': 'r/app:1' });
    expect(job.annotations).toEqual([expect.objectContaining({ style: 'success', context: 'buildkit-app' })]);
    expect(job.exports).toContain(`export BUILDKIT_IMAGE_DIGEST=${digest}`);
    const stepCommand = job.calls[3];
    expect(stepCommand?.argv).toEqual(['/bin/bash', '-e', '-c', 'smoke-test']);
    expect(stepCommand?.options.env).toMatchObject({ BUILDKIT_IMAGE_DIGEST: digest, BUILDKIT_IMAGE_REFS: 'r/app:1' });
  });

  test('a failed setup step stops the job, names the step and builds nothing', async () => {
    const fake = fakeRuntime((argv) => (argv[2] === 'create' ? { code: 1, tail: ['ERROR: no image'] } : undefined));
    const job = await commandHook({ builder: { driver: 'docker-container' } }, fake);
    expect(job.code).toBe(1);
    expect(job.log).toContain('buildkit: error: creating the builder buildkite-job-1 failed (exit 1)');
    expect(argvs(job.calls)).toEqual(['docker buildx rm', 'docker buildx create']);
  });

  test("a failed build is annotated with its output and the engine's hint; the step command does not run", async () => {
    const fake = fakeRuntime((argv) =>
      argv[2] === 'build' ? { code: 1, tail: ['Cannot connect to the Docker daemon at unix:///var/run/docker.sock'] } : undefined,
    );
    const job = await commandHook({}, fake);
    expect(job.code).toBe(1);
    expect(job.annotations).toHaveLength(1);
    expect(job.annotations[0]?.style).toBe('error');
    expect(job.annotations[0]?.body).toMatch(/no Docker engine answered/);
    expect(argvs(job.calls)).toEqual(['docker buildx build']);
  });

  test('a cancelled build reports nothing and runs no step command', async () => {
    const fake = fakeRuntime((argv) => {
      if (argv[2] === 'build') {
        fake.cancel('SIGTERM');
        return { code: 1 };
      }
      return undefined;
    });
    const job = await commandHook({ image: 'r/app', push: true }, fake);
    expect(job.code).toBe(1);
    expect(job.log).toContain('the build was cancelled (SIGTERM)');
    expect(job.annotations).toEqual([]);
    expect(job.metaData).toEqual({});
    expect(argvs(job.calls)).toEqual(['docker buildx build']);
  });

  test('dry-run prints every step of the plan, housekeeping and clean-up included, and runs none', async () => {
    const job = await commandHook({ 'dry-run': true, builder: { driver: 'docker-container' } });
    expect(job.code).toBe(0);
    expect(job.calls).toEqual([]);
    const printed = job.log.split('\n');
    const at = (text: string) => printed.findIndex((line) => line.startsWith(text));
    expect(at('# housekeeping, failure ignored: docker buildx rm --force buildkite-job-1')).toBeGreaterThan(-1);
    expect(at('docker buildx create --name buildkite-job-1')).toBeGreaterThan(at('# housekeeping'));
    expect(at('docker buildx build --progress plain --builder buildkite-job-1')).toBeGreaterThan(at('docker buildx create'));
    expect(at('docker buildx rm --force buildkite-job-1')).toBeGreaterThan(at('docker buildx build'));
    expect(job.log).toContain('then the step command: smoke-test');
  });

  test('the configuration notices (a sanitised tag) reach the log and the annotation', async () => {
    const job = await commandHook({ image: 'r/app', tags: ['feature/x'] });
    expect(job.log).toContain('buildkit: tags[0]: "feature/x" is not a valid tag; using "feature-x"');
    expect(job.annotations[0]?.body).toContain('tags[0]: "feature/x" is not a valid tag');
  });
});

describe('runBuildJob in-process: remote builders', () => {
  const remoteConfig = { image: 'r/app', push: true, builder: { endpoint: 'kube-pod://buildkitd-0', client: 'buildctl' } };
  const daemonSays = (daemon: string) =>
    fakeRuntime(
      (argv) => {
        if (argv.join(' ') === 'buildctl --version') return { stdout: 'buildctl github.com/moby/buildkit v0.13.2 2e18d709' };
        if (argv.includes('debug')) return { stdout: `BuildKit:\tgithub.com/moby/buildkit ${daemon} abc\n` };
        return buildWritesMetadata(argv);
      },
      ['buildctl'],
    );

  test('buildctl and a daemon of another minor version: a warning in the log and the annotation', async () => {
    const job = await commandHook(remoteConfig, daemonSays('v0.12.5'));
    expect(job.code).toBe(0);
    expect(job.log).toContain("buildkit: warning: buildctl 0.13.2 and the builder's BuildKit 0.12.5 differ in minor version");
    expect(job.annotations[0]?.body).toContain('differ in minor version');
    expect(job.metaData['buildkit.app.builder']).toBe('kube-pod://buildkitd-0');
  });

  test('the same minor version: no warning', async () => {
    const job = await commandHook(remoteConfig, daemonSays('v0.13.1'));
    expect(job.code).toBe(0);
    expect(job.metaData['buildkit.app.builder']).toBe('kube-pod://buildkitd-0');
    expect(job.log).not.toContain('differ in minor version');
  });

  test('a daemon that refuses the client: no build, the cause named', async () => {
    const fake = fakeRuntime(
      (argv) =>
        argv.includes('debug')
          ? {
              code: 1,
              stderr:
                'error: failed to call info: Unavailable: connection error: desc = "error reading server preface: remote error: tls: certificate required"',
            }
          : undefined,
      ['buildctl'],
    );
    await expect(commandHook(remoteConfig, fake)).rejects.toThrow('no remote builder answered the connection check:');
    expect(fake.calls.some((call) => call.argv.includes('build'))).toBe(false);
    expect(fake.sleeps).toEqual([]);
  });
});

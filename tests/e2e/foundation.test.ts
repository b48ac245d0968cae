import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkout, expectSuccess, registryImage, runPipelineStep, testRegistry } from './support';

jest.setTimeout(180_000);

const registry = testRegistry();
const uid = process.getuid?.() ?? 0;

describe('the foundation step, run as an agent would, on a real engine and registry', () => {
  test('builds, pushes both tags, reports the digest the registry serves, runs the command, cleans up', async () => {
    const dir = checkout();
    const repo = `e2e/hello-${Date.now()}`;
    const run = await runPipelineStep(
      dir,
      {
        key: 'hello',
        label: ':docker: hello',
        // `$$` as in a real pipeline.yml: a single `$` is interpolated when the pipeline is uploaded.
        command:
          'echo "$$BUILDKIT_IMAGE_DIGEST" > seen-digest; echo "$$BUILDKIT_IMAGE_REFS" > seen-refs; test -d "$$BUILDKIT_PLUGIN_STATE_DIR" && echo yes > saw-state-dir',
        config: {
          image: `${registry}/${repo}`,
          tags: ['$BUILDKITE_BUILD_NUMBER', 'latest'],
          push: true,
          'build-args': { GREETING: 'hi' },
          target: 'runtime',
          network: 'none',
        },
      },
      { env: { BUILDKITE_BUILD_NUMBER: '42', BUILDKITE_JOB_ID: 'job-foundation' } },
    );
    expect(run.output).toContain('--- :docker: Building');
    expectSuccess(run);

    const digest = run.result.metaData['buildkit.hello.digest'];
    expect(digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    for (const tag of ['42', 'latest']) {
      expect((await registryImage(registry, repo, tag))?.digest).toBe(digest);
    }
    expect(run.result.metaData['buildkit.hello.image-refs']).toBe(`${registry}/${repo}:42 ${registry}/${repo}:latest`);
    expect(run.result.annotations['buildkit-hello']).toContain(digest);

    expect(readFileSync(join(dir, 'seen-digest'), 'utf8').trim()).toBe(digest);
    expect(readFileSync(join(dir, 'seen-refs'), 'utf8').trim()).toBe(`${registry}/${repo}:42 ${registry}/${repo}:latest`);
    expect(readFileSync(join(dir, 'saw-state-dir'), 'utf8').trim()).toBe('yes');
    expect(existsSync(join(dir, `buildkite-plugin-buildkit-${uid}`, 'job-foundation'))).toBe(false);
  });

  test('an invalid configuration fails in the environment hook: nothing is built or left behind', async () => {
    const dir = checkout();
    const repo = `e2e/invalid-${Date.now()}`;
    const run = await runPipelineStep(
      dir,
      { key: 'bad', command: 'touch ran', config: { image: `${registry}/${repo}`, push: 'yes', platformz: ['linux/arm64'] } },
      { env: { BUILDKITE_JOB_ID: 'job-invalid' } },
    );
    expect(run.code).toBe(1);
    expect(run.output).toContain('push: expected a boolean, got string "yes"');
    expect(run.output).toContain('platformz: unknown option');
    expect(run.result.hookMs.command).toBeUndefined();
    expect(run.result.hookMs['pre-exit']).toBeDefined();
    expect(existsSync(join(dir, 'ran'))).toBe(false);
    expect(await registryImage(registry, repo, 'latest')).toBeUndefined();
    expect(existsSync(join(dir, `buildkite-plugin-buildkit-${uid}`, 'job-invalid'))).toBe(false);
  });

  test('build-args and labels holding $(...), backticks, quotes and ; arrive literally', async () => {
    const dir = checkout();
    const repo = `e2e/literal-${Date.now()}`;
    const evil = `$(touch ${dir}/pwned1) \`touch ${dir}/pwned2\` "dq" 'sq'; touch ${dir}/pwned3`;
    const run = await runPipelineStep(dir, {
      key: 'literal',
      config: {
        image: `${registry}/${repo}`,
        push: true,
        target: 'runtime',
        network: 'none',
        'build-args': { EVIL: evil },
        labels: { 'org.example.evil': evil },
      },
    });
    expectSuccess(run);
    const labels = (await registryImage(registry, repo, 'latest'))?.config.config?.Labels ?? {};
    expect(labels['org.example.evil']).toBe(evil);
    expect(labels['from.build-arg']).toBe(evil);
    for (const canary of ['pwned1', 'pwned2', 'pwned3']) expect(existsSync(join(dir, canary))).toBe(false);
  });

  test('the flattened form (agents < 3.28) plans the same build as the JSON form', async () => {
    const dir = checkout();
    const config = {
      image: `${registry}/e2e/forms`,
      tags: ['a', 'feature/x'],
      'build-args': ['A=1', 'B'],
      'dry-run': true,
      target: 'runtime',
      'oci-labels': false,
    };
    const env = { BUILDKITE_JOB_ID: 'job-forms', B: 'from-env' };
    const json = await runPipelineStep(dir, { key: 'forms', config }, { env, form: 'json' });
    const flattened = await runPipelineStep(dir, { key: 'forms', config }, { env, form: 'flattened' });
    const command = (out: string) => out.split('\n').find((line) => line.startsWith('docker buildx build'));
    expectSuccess(json);
    expect(command(json.output)).toContain(`--build-arg A=1 --build-arg B=from-env --tag ${registry}/e2e/forms:a --tag ${registry}/e2e/forms:feature-x`);
    expect(command(flattened.output)).toBe(command(json.output));
  });

  test('a failing build fails the step, skips its command, and pre-exit still cleans up', async () => {
    const dir = checkout();
    const run = await runPipelineStep(
      dir,
      { key: 'broken', command: 'touch ran', config: { target: 'broken', network: 'none' } },
      { env: { BUILDKITE_JOB_ID: 'job-broken' } },
    );
    expect(run.code).not.toBe(0);
    expect(run.output).toContain('^^^ +++');
    expect(existsSync(join(dir, 'ran'))).toBe(false);
    expect(existsSync(join(dir, `buildkite-plugin-buildkit-${uid}`, 'job-broken'))).toBe(false);
  });

  test('two jobs of the same step at once on one agent keep their state and results apart', async () => {
    const repo = `e2e/concurrent-${Date.now()}`;
    const job = (n: number) => {
      const dir = checkout();
      const run = runPipelineStep(
        dir,
        {
          key: 'app',
          command: 'echo "$$BUILDKIT_IMAGE_DIGEST" > seen-digest',
          config: { image: `${registry}/${repo}`, tags: [`job${n}`], push: true, target: 'runtime', network: 'none', 'build-args': { GREETING: `hello ${n}` } },
        },
        { env: { BUILDKITE_JOB_ID: `job-concurrent-${n}`, BUILDKITE_PARALLEL_JOB: String(n) } },
      );
      return run.then((result) => ({ dir, result }));
    };
    const jobs = await Promise.all([job(0), job(1)]);
    for (const [n, { dir, result }] of jobs.entries()) {
      expectSuccess(result);
      const digest = result.result.metaData[`buildkit.app.${n}.digest`];
      expect((await registryImage(registry, repo, `job${n}`))?.digest).toBe(digest);
      expect(readFileSync(join(dir, 'seen-digest'), 'utf8').trim()).toBe(digest);
      expect(existsSync(join(dir, `buildkite-plugin-buildkit-${uid}`, `job-concurrent-${n}`))).toBe(false);
    }
    expect(jobs[0].result.result.metaData['buildkit.app.0.digest']).not.toBe(jobs[1].result.result.metaData['buildkit.app.1.digest']);
  });

  test('a cancelled job stops its build and pre-exit still cleans up', async () => {
    const dir = checkout();
    const started = Date.now();
    const run = await runPipelineStep(
      dir,
      { key: 'slow', command: 'touch ran', config: { target: 'slow', network: 'none', 'no-cache': true } },
      { env: { BUILDKITE_JOB_ID: 'job-cancel' }, extraArgs: ['--cancel-after', '3', '--grace', '10'] },
    );
    expect(run.code).not.toBe(0);
    expect(Date.now() - started).toBeLessThan(30_000);
    // The command hook waited for the build to stop: no early exit, nothing printed after the result.
    expect(run.output).toContain('the build was cancelled');
    expect(run.output).not.toContain('exited early');
    expect(run.result.hookMs.command).toBeDefined();
    expect(run.result.hookMs['pre-exit']).toBeDefined();
    expect(existsSync(join(dir, 'ran'))).toBe(false);
    expect(existsSync(join(dir, `buildkite-plugin-buildkit-${uid}`, 'job-cancel'))).toBe(false);
  });
});

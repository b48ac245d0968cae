import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Fault, FaultProxy, registryError } from './fault-proxy';
import { checkout, expectSuccess, registryImage, runPipelineStep, StepRun, testRegistry } from './support';
import { defined } from '../support/defined';

// Retries against real registry faults: the step pushes to `127.0.0.1:<proxy>/repo`, a fault
// proxy in front of the run's registry answers chosen requests with an error, and the
// registry itself ends up holding whatever got through.
//
// BuildKit retries a push that met a 5xx or a reset connection by itself: 4 tries, 1 s,
// 2 s and 4 s apart (see tests/fixtures/registry-errors/manifest-put-500.txt). So "the first
// 4 manifest PUTs fail with 500" is one whole failed buildx run, ~8 s, and the plugin's
// first retry (after 2 s) meets a healthy registry. containerd repeats a 429 at once, 6 tries
// in all (manifest-put-429-toomanyrequests.txt); other 4xx errors fail at the first answer.

jest.setTimeout(120_000);

const registry = testRegistry();
let proxy: FaultProxy;

beforeAll(async () => {
  proxy = await FaultProxy.start(registry);
});

afterAll(async () => {
  await proxy?.stop();
});

const retryWarning = /transient registry error; retrying in/;
const retryGroup = /^--- .*\(retry \d+ of \d+\)$/m;

function manifestPuts(repo: string) {
  return proxy.matching({ method: 'PUT', path: new RegExp(`^/v2/${repo}/manifests/`) });
}

function failManifestPuts(repo: string, times: number, fault: Fault): void {
  proxy.setRules([{ method: 'PUT', path: new RegExp(`^/v2/${repo}/manifests/`), times, fault }]);
}

/** The last `ERROR: ...` line buildx printed: the end of the build's output. */
function lastBuildxError(run: StepRun): string {
  const lines = run.output.split('\n').filter((line) => line.startsWith('ERROR: '));
  if (lines.length === 0) throw new Error(`no ERROR: line in the step's output:\n${run.output}`);
  return lines[lines.length - 1] ?? '';
}

function buildGroups(run: StepRun): string[] {
  return run.output.split('\n').filter((line) => line.startsWith('--- :docker: Building'));
}

describe('retries of a push that met a registry fault', () => {
  test('500s on the first push: one retry after 2 s in its own log group, then the registry serves the tag with the reported digest', async () => {
    const dir = checkout();
    const repo = `e2e/retry-500-${Date.now()}`;
    failManifestPuts(repo, 4, { status: 500, body: registryError('UNKNOWN', 'unknown error') });
    const run = await runPipelineStep(
      dir,
      {
        key: 'retry500',
        label: ':docker: retry',
        command: 'echo "$$BUILDKIT_IMAGE_DIGEST" > seen-digest',
        config: { image: `${proxy.host}/${repo}`, tags: ['v1'], push: true, target: 'runtime', network: 'none' },
      },
      { env: { BUILDKITE_JOB_ID: 'job-retry-500' } },
    );
    expectSuccess(run);
    expect(proxy.hits()).toEqual([4]);

    expect(run.output).toContain('buildkit: warning: the push failed with a transient registry error; retrying in 2 s (1 of 2)');
    expect(buildGroups(run)).toEqual([`--- :docker: Building ${proxy.host}/${repo}:v1`, `--- :docker: Building ${proxy.host}/${repo}:v1 (retry 1 of 2)`]);

    // BuildKit's 4 tries in the first run; the retry's PUTs (image and attestation manifests by digest, the index by tag) go through.
    const puts = manifestPuts(repo);
    expect(puts.slice(0, 4).map((p) => p.status)).toEqual([500, 500, 500, 500]);
    expect(puts.slice(4).map((p) => p.status)).toEqual(puts.slice(4).map(() => 201));
    expect(puts.slice(4).map((p) => p.path)).toContain(`/v2/${repo}/manifests/v1`);
    // The plugin waited its 2 s (plus the start of a new buildx) before the retry reached the registry.
    const fourthPut = defined(puts[3], 'a fourth PUT');
    const firstRetryRequest = proxy.requests.find((r) => r.at > fourthPut.at && r.path.startsWith(`/v2/${repo}/`));
    expect(firstRetryRequest!.at - fourthPut.at).toBeGreaterThanOrEqual(2000);

    const digest = run.result.metaData['buildkit.retry500.digest'];
    expect(digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect((await registryImage(registry, repo, 'v1'))?.digest).toBe(digest);
    expect(run.result.metaData['buildkit.retry500.image-refs']).toBe(`${proxy.host}/${repo}:v1`);
    expect(run.result.annotations['buildkit-retry500']).toContain(digest);
    expect(run.output).toContain('annotate --style success --context buildkit-retry500');
    expect(readFileSync(join(dir, 'seen-digest'), 'utf8').trim()).toBe(digest);
  });

  test.each([
    [
      '401 UNAUTHORIZED (basic auth challenge)',
      { status: 401, body: registryError('UNAUTHORIZED', 'authentication required'), headers: { 'WWW-Authenticate': 'Basic realm="registry"' } },
      '401 Unauthorized',
    ],
    ['403 DENIED', { status: 403, body: registryError('DENIED', 'requested access to the resource is denied') }, '403 Forbidden'],
    ['400 MANIFEST_INVALID', { status: 400, body: registryError('MANIFEST_INVALID', 'manifest invalid', {}) }, '400 Bad Request'],
  ])('a permanent error (%s) is not retried: the step fails once and its error annotation ends with buildx error', async (_name, fault, status) => {
    const dir = checkout();
    const repo = `e2e/permanent-${status.slice(0, 3)}-${Date.now()}`;
    failManifestPuts(repo, Infinity, fault);
    const run = await runPipelineStep(
      dir,
      {
        key: 'permanent',
        label: ':docker: permanent',
        command: 'touch ran',
        config: { image: `${proxy.host}/${repo}`, push: true, target: 'runtime', network: 'none' },
      },
      { env: { BUILDKITE_JOB_ID: 'job-permanent' } },
    );
    expect(run.code).toBe(1);
    expect(run.output).not.toMatch(retryWarning);
    expect(run.output).not.toMatch(retryGroup);
    expect(buildGroups(run)).toHaveLength(1);
    // Neither BuildKit nor the plugin asked again.
    expect(manifestPuts(repo).map((p) => p.status)).toEqual([fault.status]);
    expect(existsSync(join(dir, 'ran'))).toBe(false);
    expect(await registryImage(registry, repo, 'latest')).toBeUndefined();

    const error = lastBuildxError(run);
    // The build pushes the job's own tag (the public one is pushed from it after a success).
    expect(error).toMatch(new RegExp(`^ERROR: failed to solve: failed to push ${proxy.host}/${repo}:buildkite-job-permanent: .*: ${status}$`));
    expect(run.output).toContain('annotate --style error --context buildkit-permanent');
    const annotation = defined(run.result.annotations['buildkit-permanent'], 'an annotation');
    expect(annotation).toContain(':docker: permanent failed (exit 1)');
    // The annotation holds the end of the output: its code block ends with buildx's error.
    expect(annotation.trimEnd().split('\n').slice(-2)).toEqual([error, '```']);
  });

  test('retries: 0 turns retrying off; left on, the same transient fault (429) is retried, though the build log says 401 and 403', async () => {
    const dir = checkout();
    // A stage whose RUN prints test results naming auth errors: the build's own log, not the registry's answer.
    appendFileSync(
      join(dir, 'Dockerfile'),
      '\nFROM base AS test-report\nARG NONCE\nRUN echo "ok 1 - GET /admin without a token -> 401 Unauthorized" && echo "ok 2 - GET /admin as guest -> 403 Forbidden (access denied)" && echo "$NONCE" > /report\n',
    );
    const tooMany: Fault = { status: 429, body: registryError('TOOMANYREQUESTS', 'too many requests') };
    const step = (key: string, repo: string, extra: Record<string, unknown>) =>
      runPipelineStep(
        dir,
        {
          key,
          config: {
            image: `${proxy.host}/${repo}`,
            push: true,
            target: 'test-report',
            network: 'none',
            'build-args': { NONCE: `${key}-${Date.now()}` },
            ...extra,
          },
        },
        { env: { BUILDKITE_JOB_ID: `job-${key}` } },
      );

    const off = `e2e/retries-off-${Date.now()}`;
    failManifestPuts(off, 6, tooMany);
    const without = await step('off', off, { retries: 0 });
    expect(without.code).toBe(1);
    expect(lastBuildxError(without)).toMatch(/: 429 Too Many Requests$/);
    expect(without.output).not.toMatch(retryWarning);
    expect(buildGroups(without)).toHaveLength(1);
    expect(manifestPuts(off).map((p) => p.status)).toEqual([429, 429, 429, 429, 429, 429]);
    expect(await registryImage(registry, off, 'latest')).toBeUndefined();

    const on = `e2e/retries-on-${Date.now()}`;
    failManifestPuts(on, 6, tooMany);
    const withRetries = await step('on', on, {});
    expectSuccess(withRetries);
    expect(withRetries.output).toMatch(/^#\d+ [\d.]+ ok 2 - GET \/admin as guest -> 403 Forbidden \(access denied\)$/m);
    expect(withRetries.output).toContain('retrying in 2 s (1 of 2)');
    expect(buildGroups(withRetries)).toHaveLength(2);
    const puts = manifestPuts(on).map((p) => p.status);
    expect(puts.slice(0, 7)).toEqual([429, 429, 429, 429, 429, 429, 201]);
    expect(puts.slice(6)).toEqual(puts.slice(6).map(() => 201));
    expect((await registryImage(registry, on, 'latest'))?.digest).toBe(withRetries.result.metaData['buildkit.on.digest']);
  });

  test.each([
    ['broken', 'this stage fails on purpose'],
    // A RUN step that failed on the network itself: its log is full of transient-looking words.
    ['network-errors', 'npm ERR! network read ECONNRESET: connection reset by peer'],
  ])('a failing RUN step (target %s) is not retried, even when pushing to a failing registry', async (target, logLine) => {
    const dir = checkout();
    appendFileSync(
      join(dir, 'Dockerfile'),
      '\nFROM base AS network-errors\nRUN echo "npm ERR! network read ECONNRESET: connection reset by peer" && echo "npm ERR! 503 Service Unavailable - GET https://registry.npmjs.org/left-pad" && exit 1\n',
    );
    const repo = `e2e/run-fails-${target}-${Date.now()}`;
    failManifestPuts(repo, Infinity, { status: 503 });
    const run = await runPipelineStep(
      dir,
      { key: 'runfails', command: 'touch ran', config: { image: `${proxy.host}/${repo}`, push: true, target, network: 'none' } },
      { env: { BUILDKITE_JOB_ID: 'job-run-fails' } },
    );
    expect(run.code).toBe(1);
    expect(run.output).toContain(logLine);
    expect(lastBuildxError(run)).toMatch(/did not complete successfully: exit code: [17]$/);
    expect(run.output).not.toMatch(retryWarning);
    expect(buildGroups(run)).toHaveLength(1);
    expect(proxy.matching({ path: new RegExp(`^/v2/${repo}/`) })).toEqual([]);
    expect(existsSync(join(dir, 'ran'))).toBe(false);
  });
});

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { backoffSeconds, isTransientPushFailure } from '../../src/run/retry';

/** What the command hook keeps of a failed build's output (build-job.ts: failureTailLines). */
const tailLines = 40;
const fixtures = join(__dirname, '..', 'fixtures', 'registry-errors');

function tail(name: string): string[] {
  return readFileSync(join(fixtures, name), 'utf8').replace(/\n$/, '').split('\n').slice(-tailLines);
}

// Real `docker buildx build|bake --progress plain --push` output (buildx 0.13.1, BuildKit 0.13 in
// dockerd 26.1.5), captured through tests/e2e/fault-proxy.ts; see the README next to them.
const realOutputs: Array<[string, boolean]> = [
  ['manifest-put-500.txt', true],
  ['manifest-put-502.txt', true],
  ['manifest-put-503-unavailable.txt', true],
  ['manifest-put-429-toomanyrequests.txt', true],
  ['manifest-put-connection-reset.txt', true],
  ['blob-upload-put-500.txt', true],
  ['blob-upload-post-connection-reset.txt', true],
  ['bake-manifest-put-503.txt', true],
  ['manifest-put-500-after-test-log-with-401-403.txt', true],
  ['manifest-put-401-unauthorized.txt', false],
  ['manifest-put-401-basic-challenge.txt', false],
  ['manifest-put-403-denied.txt', false],
  ['manifest-put-400-manifest-invalid.txt', false],
  ['manifest-put-404-name-unknown.txt', false],
  ['manifest-put-404-after-npm-log-with-econnreset-502.txt', false],
  ['manifest-put-400-after-npm-log-with-econnreset-502.txt', false],
  ['bake-manifest-put-403.txt', false],
  ['run-step-failed.txt', false],
  ['run-step-failed-with-network-errors-in-log.txt', false],
  ['bake-run-step-failed.txt', false],
];

describe('isTransientPushFailure on real buildx output', () => {
  test('every fixture is in the table', () => {
    expect(
      readdirSync(fixtures)
        .filter((f) => f.endsWith('.txt'))
        .sort(),
    ).toEqual(realOutputs.map(([name]) => name).sort());
  });

  test.each(realOutputs)('%s -> %s', (name, transient) => {
    expect(isTransientPushFailure(tail(name))).toBe(transient);
  });

  test("the build's own log lines do not decide: they hold the words the old whole-tail match tripped on", () => {
    // A transient failure whose RUN step printed "401 Unauthorized" / "403 Forbidden (access denied)" ...
    const testLog = tail('manifest-put-500-after-test-log-with-401-403.txt');
    expect(testLog.some((line) => /^#\d+ [\d.]+ .*403 Forbidden \(access denied\)/.test(line))).toBe(true);
    // ... and permanent ones whose RUN step printed "ECONNRESET (connection reset by peer)" and "502 Bad Gateway".
    const npmLog = tail('manifest-put-404-after-npm-log-with-econnreset-502.txt');
    expect(npmLog.some((line) => /^#\d+ [\d.]+ .*connection reset by peer/.test(line))).toBe(true);
    expect(npmLog.some((line) => /^#\d+ [\d.]+ .*502 Bad Gateway/.test(line))).toBe(true);
  });
});

const line = (text: string) => [`#9 exporting to image`, `#9 0.401 some log line`, text];

// Lines in the shapes buildx prints for other registries and failures.
const realisticLines: Array<[string, boolean]> = [
  [
    'ERROR: failed to solve: failed to push ghcr.io/acme/app:1: failed to copy: failed to do request: Put "https://ghcr.io/v2/acme/app/blobs/uploads/x": read tcp 10.0.0.5:51234->140.82.112.34:443: read: connection reset by peer',
    true,
  ],
  [
    'ERROR: failed to solve: failed to push 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:42: failed to do request: Head "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/app/blobs/sha256:abc": dial tcp 52.1.2.3:443: i/o timeout',
    true,
  ],
  [
    'ERROR: failed to solve: failed to push registry.example.com/app:1: failed to authorize: failed to fetch oauth token: Post "https://registry.example.com/token": net/http: TLS handshake timeout',
    true,
  ],
  [
    'ERROR: failed to solve: failed to push r.example.com/app:1: failed to do request: Put "https://r.example.com/v2/app/manifests/1": context deadline exceeded (Client.Timeout exceeded while awaiting headers)',
    true,
  ],
  [
    'ERROR: failed to solve: failed to push docker.io/acme/app:1: unexpected status from HEAD request to https://registry-1.docker.io/v2/acme/app/blobs/sha256:abc: 429 Too Many Requests',
    true,
  ],
  ['ERROR: failed to solve: failed to push docker.io/acme/app:1: toomanyrequests: too many requests, retry later', true],
  [
    'ERROR: failed to solve: failed to push quay.io/acme/app:1: failed commit on ref "layer-sha256:abc": unexpected status from PUT request to https://quay.io/v2/acme/app/blobs/uploads/x?digest=sha256%3Aabc: 504 Gateway Timeout',
    true,
  ],
  [
    'ERROR: failed to solve: failed to push r.example.com/app:1: failed commit on ref "index-sha256:abc": unexpected status from PUT request to https://r.example.com/v2/app/manifests/1: 408 Request Timeout',
    true,
  ],
  [
    'ERROR: failed to solve: failed to push r.example.com/app:1: failed to do request: Put "https://r.example.com/v2/app/manifests/1": write tcp 10.0.0.5:4242->10.0.0.9:443: write: broken pipe',
    true,
  ],
  ['ERROR: failed to solve: failed to push r.example.com/app:1: failed to do request: Put "https://r.example.com/v2/app/manifests/1": EOF', true],
  ['error: failed to solve: failed to push r.example.com/app:1: unexpected EOF', true],
  [
    '#12 ERROR: failed to push r.example.com/denied/app:1: unexpected status from PUT request to https://r.example.com/v2/denied/app/manifests/1: 502 Bad Gateway',
    true,
  ],
  [
    'ERROR: failed to solve: failed to push docker.io/acme/app:1: failed to authorize: failed to fetch oauth token: unexpected status from POST request to https://auth.docker.io/token: 401 Unauthorized',
    false,
  ],
  [
    'ERROR: failed to solve: failed to push ghcr.io/acme/app:1: unexpected status from HEAD request to https://ghcr.io/v2/acme/app/blobs/sha256:abc: 403 Forbidden',
    false,
  ],
  ['ERROR: failed to solve: failed to push docker.io/acme/app:latest: server message: insufficient_scope: authorization failed', false],
  ['ERROR: failed to solve: failed to push 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1: denied: requested access to the resource is denied', false],
  ['ERROR: failed to solve: failed to push r.example.com/app:1: unauthorized: authentication required', false],
  ['ERROR: failed to solve: failed to push r.example.com/app:1: manifest invalid: manifest invalid', false],
  [
    'ERROR: failed to solve: failed to push r.example.com/app:1: failed commit on ref "index-sha256:abc": unexpected status from PUT request to https://r.example.com/v2/app/manifests/1: 501 Not Implemented',
    false,
  ],
  ['ERROR: failed to solve: process "/bin/sh -c npm ci || (echo 503 Service Unavailable; exit 1)" did not complete successfully: exit code: 1', false],
  ['ERROR: failed to solve: failed to compute cache key: failed to calculate checksum of ref abc::def: "/package.json": not found', false],
  // Names that look like statuses or error words decide nothing.
  [
    'ERROR: failed to solve: failed to push r.example.com/team-500/app:503: failed commit on ref "manifest-sha256:abc": unexpected status from PUT request to https://r.example.com/v2/team-500/app/manifests/503: 400 Bad Request',
    false,
  ],
  [
    'ERROR: failed to solve: failed to push r.example.com/unauthorized:latest: failed commit on ref "manifest-sha256:abc": unexpected status from PUT request to https://r.example.com/v2/unauthorized/manifests/latest: 503 Service Unavailable',
    true,
  ],
];

describe('isTransientPushFailure on realistic error lines', () => {
  test.each(realisticLines)('%s -> %s', (text, transient) => {
    expect(isTransientPushFailure(line(text))).toBe(transient);
  });

  test('without an error line nothing is retried, whatever the log says', () => {
    expect(isTransientPushFailure([])).toBe(false);
    expect(isTransientPushFailure(['#8 0.502 npm WARN retry: connection reset by peer', '#8 0.503 502 Bad Gateway'])).toBe(false);
  });

  test('a permanent error on one bake target wins over a transient one on another', () => {
    expect(
      isTransientPushFailure([
        '#14 ERROR: failed to push r.example.com/worker:1: unexpected status from PUT request to https://r.example.com/v2/worker/manifests/1: 503 Service Unavailable',
        '#15 ERROR: failed to push r.example.com/app:1: unexpected status from PUT request to https://r.example.com/v2/app/manifests/1: 403 Forbidden',
        'ERROR: failed to solve: failed to push r.example.com/app:1: unexpected status from PUT request to https://r.example.com/v2/app/manifests/1: 403 Forbidden',
      ]),
    ).toBe(false);
  });
});

describe('backoffSeconds', () => {
  test('2 s, 4 s, 8 s, ... capped at 30 s', () => {
    expect([1, 2, 3, 4, 5, 6].map(backoffSeconds)).toEqual([2, 4, 8, 16, 30, 30]);
  });
});

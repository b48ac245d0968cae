/**
 * Whether a failed build failed while talking to a registry in a way worth retrying
 * (5xx, 408, 429, reset connections, time-outs). A failing RUN step or an auth or manifest
 * error is the build's own failure, and retrying would only repeat it.
 *
 * Only buildx's error lines are read (`ERROR: ...` and `#N ERROR: ...`; older buildx wrote
 * `error: ...`). The rest of the output is the build's own log, whose lines may say anything
 * ("GET /admin -> 403 Forbidden" from a test run, "ECONNRESET ... 502 Bad Gateway" from a
 * package manager that recovered), and those must not decide. Quoted strings (the failed
 * command, refs) and URLs or image references are left out too: a repository may be
 * called `denied` or `team-500`. Without an error line nothing is retried.
 *
 * The status codes are read where Go's HTTP clients put them, `NNN Reason Phrase`
 * (containerd: `unexpected status from PUT request to URL: 500 Internal Server Error`),
 * or after `status code`/`status:`.
 */
export function isTransientPushFailure(outputTail: string[]): boolean {
  const errors = outputTail.filter((line) => errorLine.test(line)).map(withoutNamesAndQuotes);
  if (errors.length === 0) return false;
  const text = errors.join('\n');
  if (buildStepFailure.test(text)) return false;
  const statuses = httpStatuses(text);
  if (statuses.some((status) => !transientStatus(status)) || permanentMessage.test(text)) return false;
  return statuses.some(transientStatus) || transientMessage.test(text);
}

/** 2 s, 4 s, 8 s, ... capped at 30 s. */
export function backoffSeconds(retry: number): number {
  return Math.min(30, 2 ** retry);
}

/** `ERROR: failed to solve: ...` (buildx), `#12 ERROR: ...` (a vertex), `error: ...` (older buildx). */
const errorLine = /^(?:#\d+ )?error:\s/i;

/** The build itself failed: a RUN step, a COPY of a missing file, a broken Dockerfile. */
const buildStepFailure =
  /did not complete successfully|failed to compute cache key|failed to calculate checksum|dockerfile parse error|failed to read dockerfile|failed to parse|unknown instruction|failed to resolve source metadata/i;

/** Registry and auth errors that a retry would only repeat. */
const permanentMessage =
  /unauthorized:|authentication required|no basic auth credentials|denied:|requested access to the resource is denied|insufficient_scope|forbidden:|MANIFEST_INVALID|manifest invalid|MANIFEST_BLOB_UNKNOWN|NAME_UNKNOWN|name unknown|NAME_INVALID|TAG_INVALID|BLOB_UNKNOWN|blob unknown|repository does not exist/i;

/** Connection-level failures and rate limits. */
const transientMessage =
  /connection reset by peer|broken pipe|unexpected EOF|i\/o timeout|TLS handshake timeout|Client\.Timeout exceeded|connection refused|use of closed network connection|http2: server sent GOAWAY|toomanyrequests|too many requests|: EOF$/im;

function transientStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599 && status !== 501 && status !== 505);
}

/** HTTP statuses (4xx, 5xx) named in the error text. */
function httpStatuses(text: string): number[] {
  const statuses: number[] = [];
  for (const match of text.matchAll(/\b([45]\d\d) [A-Z][A-Za-z'-]*|status(?: code)?:? ([45]\d\d)\b/g)) {
    statuses.push(Number(match[1] ?? match[2]));
  }
  return statuses;
}

/** The line without quoted strings and without tokens that name something (URLs, image refs, paths). */
function withoutNamesAndQuotes(line: string): string {
  return line
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .split(/\s+/)
    .map((token) => (/^[a-z][a-z0-9+.-]*:\/\/|\/.*[.:@]|[.:@].*\//i.test(token) ? '<name>' : token))
    .join(' ');
}

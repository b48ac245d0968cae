/**
 * Whether a failed build failed while talking to a registry in a way worth retrying
 * (5xx, reset connections, time-outs). A failing RUN step or an auth or manifest error
 * is the build's own failure, and retrying would only repeat it.
 */
export function isTransientPushFailure(outputTail: string[]): boolean {
  const text = outputTail.join('\n');
  if (/did not complete successfully|failed to solve: failed to compute cache key|dockerfile parse error/i.test(text)) return false;
  if (/\b(401|403)\b|unauthorized|denied|forbidden|MANIFEST_INVALID|manifest invalid|NAME_UNKNOWN|BLOB_UNKNOWN|insufficient_scope/i.test(text)) return false;
  return /\b50[0234]\b|Internal Server Error|Bad Gateway|Service Unavailable|Gateway Time-?out|connection reset by peer|i\/o timeout|TLS handshake timeout|unexpected EOF|broken pipe|connection refused|\b429\b|Too Many Requests/i.test(
    text,
  );
}

/** 2 s, 4 s, 8 s, ... capped at 30 s. */
export function backoffSeconds(retry: number): number {
  return Math.min(30, 2 ** retry);
}

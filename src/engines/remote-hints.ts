/**
 * The likely cause of a failure to reach a remote buildkitd, from Node's error codes (the
 * connection check) or from buildctl's and buildx's gRPC messages (the build's output).
 */
export function connectionCause(text: string): string | undefined {
  if (/ECONNREFUSED|connection refused/i.test(text))
    return 'connection refused: the daemon is not running there, or a security group or firewall rejects the port';
  if (/ENOTFOUND|EAI_AGAIN|no such host|name resolution/i.test(text)) return 'unknown host: the name does not resolve (DNS)';
  if (/certificate|x509|TLS|SSL|handshake|server preface|alert/i.test(text))
    return 'TLS handshake failed: a certificate mismatch (CA, client certificate and key, or servername), or TLS on one side only';
  if (/ETIMEDOUT|timed out|deadline exceeded|i\/o timeout/i.test(text))
    return 'deadline exceeded: the network does not reach it (routing, or a security group that drops packets)';
  if (/ECONNRESET|connection reset|broken pipe/i.test(text)) return 'connection reset: often TLS on one side only, or a proxy in between';
  return undefined;
}

/** A hint for a build that failed while talking to the remote builder. */
export function remoteHint(outputTail: string[]): string | undefined {
  const lines = outputTail.filter((line) =>
    /connection error|rpc error|Unavailable|dial|x509|certificate|no such host|deadline exceeded|server preface/i.test(line),
  );
  if (lines.length === 0) return undefined;
  const cause = connectionCause(lines.join('\n'));
  return cause ? `the remote builder could not be reached: ${cause}` : undefined;
}

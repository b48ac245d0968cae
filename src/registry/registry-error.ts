/** A registry refused or failed a request. The message names the ref and what the registry said, never a secret. */
export class RegistryError extends Error {
  constructor(
    message: string,
    /** The HTTP status, when the registry answered. */
    readonly status?: number,
    /** The registry's error codes (`MANIFEST_UNKNOWN`, `DENIED`, ...). */
    readonly codes: string[] = [],
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

type ErrorBody = { errors?: Array<{ code?: unknown; message?: unknown }> };

function parseErrors(body: string): Array<{ code: string; message?: string }> {
  let parsed: ErrorBody;
  try {
    parsed = JSON.parse(body) as ErrorBody;
  } catch {
    return [];
  }
  if (!Array.isArray(parsed?.errors)) return [];
  return parsed.errors
    .filter((e) => typeof e?.code === 'string')
    .map((e) => ({ code: e.code as string, message: typeof e.message === 'string' && e.message !== '' ? e.message : undefined }));
}

/**
 * The error for an answer the client did not expect: `context: CODE: message (HTTP status; note)`,
 * from the registry's JSON error body (distribution's format), else the start of its text.
 */
export function answerError(context: string, status: number, statusText: string, body: string, note?: string): RegistryError {
  const errors = parseErrors(body);
  const said = errors.length > 0 ? errors.map((e) => (e.message ? `${e.code}: ${e.message}` : e.code)).join('; ') : body.trim().split('\n')[0]?.slice(0, 200);
  const text = said || statusText || 'no message';
  return new RegistryError(
    `${context}: ${text} (HTTP ${status}${note ? `; ${note}` : ''})`,
    status,
    errors.map((e) => e.code),
  );
}

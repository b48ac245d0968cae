type Env = Record<string, string | undefined>;

/**
 * The agent's pipeline-upload interpolation: `$VAR`, `${VAR}`, `${VAR:-default}`,
 * `${VAR-default}`, and `$$` for a literal `$`. Anything else (`$(`, a lone `$`) stays as written.
 */
export function interpolate(text: string, env: Env): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, braced: string | undefined, op: string | undefined, fallback: string | undefined, bare: string | undefined) => {
      if (match === '$$') return '$';
      const name = (braced ?? bare) as string;
      const value = env[name];
      if (op === ':-') return value === undefined || value === '' ? interpolate(fallback ?? '', env) : value;
      if (op === '-') return value === undefined ? interpolate(fallback ?? '', env) : value;
      return value ?? '';
    },
  );
}

/** Interpolates every string in a parsed YAML value. */
export function interpolateValue(value: unknown, env: Env): unknown {
  if (typeof value === 'string') return interpolate(value, env);
  if (Array.isArray(value)) return value.map((item) => interpolateValue(item, env));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateValue(v, env)]));
  }
  return value;
}

/** A Go duration as buildx and the agent write them: `90s`, `5m`, `1h30m`. */
export const goDuration = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;

/** `1m30s` → 90. */
export function goDurationSeconds(duration: string): number {
  const unit: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  return [...duration.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)].reduce((sum, [, n, u]) => sum + Number(n) * (unit[u ?? 's'] ?? 1), 0);
}

/** An age: seconds, or a Go duration that may also count days and weeks (`7d`, `1w`, `1d12h`). */
export function ageSeconds(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text);
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d|w))+$/.test(text)) return undefined;
  const days = { d: 86400, w: 7 * 86400 };
  return [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w)/g)].reduce(
    (sum, [part, n, u]) => sum + (u === 'd' || u === 'w' ? Number(n) * days[u] : goDurationSeconds(part)),
    0,
  );
}

/** A Go duration as buildx and the agent write them: `90s`, `5m`, `1h30m`. */
export const goDuration = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;

/** `1m30s` → 90. */
export function goDurationSeconds(duration: string): number {
  const unit: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  return [...duration.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)].reduce((sum, [, n, u]) => sum + Number(n) * (unit[u ?? 's'] ?? 1), 0);
}

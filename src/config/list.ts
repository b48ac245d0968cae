/** A string-or-list option as a list; a comma string is split, as build-push-action does. */
export function list(value: unknown): string[] {
  if (value === undefined) return [];
  const items = Array.isArray(value) ? value.map(String) : String(value).split(/[,\n]/);
  return items.map((item) => item.trim()).filter((item) => item !== '');
}

/** A list option whose items may hold commas (exporter specs, bake overrides): one per line. */
export function lines(value: unknown): string[] {
  if (value === undefined) return [];
  const items = Array.isArray(value) ? value.map(String) : String(value).split('\n');
  return items.map((item) => item.trim()).filter((item) => item !== '');
}

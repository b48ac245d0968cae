/** The value, or a test failure naming what was missing (for indexed access in tests). */
export function defined<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`expected ${what}`);
  return value;
}

/** A number of seconds (0 or more, fractions allowed); anything else is refused, never read as 0. */
export function seconds(flag: string, text: string): number {
  const value = /^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(value)) throw new Error(`${flag}: expected a number of seconds such as 2 or 0.5, got ${JSON.stringify(text.slice(0, 40))}`);
  return value;
}

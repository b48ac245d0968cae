/** `2g` → bytes (binary units b, k, m, g, t, as Docker reads sizes); undefined when it is not a size. */
export function sizeBytes(size: string): number | undefined {
  const match = /^(\d+)([bkmgt]?)$/i.exec(size.trim());
  if (!match) return undefined;
  const power = { '': 0, b: 0, k: 1, m: 2, g: 3, t: 4 }[(match[2] ?? '').toLowerCase() as '' | 'b' | 'k' | 'm' | 'g' | 't'];
  return Number(match[1]) * 1024 ** power;
}

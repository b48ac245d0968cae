export interface CsvField {
  key: string;
  value: string;
}

/**
 * Splits one exporter/cache spec (`type=local,dest="a,b"`) into its fields, the way buildx
 * reads it with encoding/csv: commas separate fields, double quotes may hold commas and
 * newlines, `""` inside quotes is a quote.
 */
export function parseCsvFields(spec: string): CsvField[] {
  const fields: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i];
    if (quoted) {
      if (c === '"' && spec[i + 1] === '"') {
        current += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        current += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      fields.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  if (quoted) throw new Error(`unterminated quote in ${JSON.stringify(spec)}`);
  fields.push(current);
  return fields
    .map((field) => field.trim())
    .filter((field) => field !== '')
    .map((field) => {
      const eq = field.indexOf('=');
      return eq === -1 ? { key: field, value: '' } : { key: field.slice(0, eq).trim(), value: field.slice(eq + 1) };
    });
}

export function csvField(spec: string, key: string): string | undefined {
  return parseCsvFields(spec).find((field) => field.key === key)?.value;
}

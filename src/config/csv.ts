/**
 * One CSV record as buildx and buildctl read an exporter or cache spec: Go's encoding/csv
 * with its defaults. A field is either bare (no `"` anywhere in it) or wholly quoted
 * (`"dest=a,b"`), where `""` is a quote and commas and newlines are kept. Anything else
 * (`dest="a,b"`, `a"b"c`) is an error there, and so it is here.
 */
export function readCsvRecord(text: string): string[] {
  const input = text.replace(/\r\n/g, '\n');
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (input[i] === '"') {
      const start = i;
      let field = '';
      i++;
      for (;;) {
        if (i >= input.length) throw new CsvError(`unterminated quote in the field at column ${start + 1}`);
        if (input[i] === '"') {
          if (input[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += input[i];
        i++;
      }
      if (i < input.length && input[i] !== ',' && input[i] !== '\n') {
        throw new CsvError(`extraneous or missing " in the quoted field at column ${start + 1}`);
      }
      fields.push(field);
    } else {
      const end = nextBreak(input, i);
      const field = input.slice(i, end);
      const quote = field.indexOf('"');
      if (quote !== -1) throw new CsvError(`bare " in a field that is not quoted, at column ${i + quote + 1} (quote the whole field: "key=value")`);
      fields.push(field);
      i = end;
    }
    if (i >= input.length || input[i] === '\n') return fields;
    i++; // the comma
  }
}

/** The record as Go's csv.Writer writes it, so that readCsvRecord (and buildx) read it back. */
export function writeCsvRecord(fields: string[]): string {
  return fields.map((field) => (needsQuotes(field) ? `"${field.replace(/"/g, '""')}"` : field)).join(',');
}

export class CsvError extends Error {}

function nextBreak(input: string, from: number): number {
  for (let i = from; i < input.length; i++) if (input[i] === ',' || input[i] === '\n') return i;
  return input.length;
}

function needsQuotes(field: string): boolean {
  if (field === '') return false;
  return field === '\\.' || /[,"\r\n]/.test(field) || field.startsWith(' ') || field.startsWith('\t');
}

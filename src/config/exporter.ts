import { CsvError, readCsvRecord, writeCsvRecord } from './csv';

/** One `key=value` of a spec, in the order given. */
export interface Field {
  key: string;
  value: string;
}

/** An exporter spec (`type=local,dest=out`) parsed once: its type and its other fields. */
export interface ExporterSpec {
  type: string;
  attrs: Field[];
}

/**
 * Reads a spec as buildx's `--output` does: CSV fields of `key=value`, and a spec without
 * `type=` that is a single path is the local exporter's `dest`. Throws a message without
 * the option name; the caller adds the option path.
 */
export function parseExporterSpec(spec: string): ExporterSpec {
  let fields: string[];
  try {
    fields = readCsvRecord(spec);
  } catch (error) {
    if (error instanceof CsvError) throw new SpecError(`${error.message}; got ${JSON.stringify(spec)}`);
    throw error;
  }
  if (fields.length === 1 && !fields[0]?.includes('=')) {
    if (fields[0] === '-') throw new SpecError('writing the result to standard output (-) is not supported here; use type=tar,dest=FILE');
    return { type: 'local', attrs: [{ key: 'dest', value: fields[0] ?? '' }] };
  }
  const attrs = fields.map((field) => {
    const eq = field.indexOf('=');
    if (eq <= 0) throw new SpecError(`expected key=value fields; got ${JSON.stringify(field)} in ${JSON.stringify(spec)}`);
    return { key: field.slice(0, eq).trim().toLowerCase(), value: field.slice(eq + 1) };
  });
  const type = attrs.find((attr) => attr.key === 'type');
  if (!type || type.value === '') throw new SpecError(`expected a type= field (local, tar, oci, docker, image, registry); got ${JSON.stringify(spec)}`);
  return { type: type.value, attrs: attrs.filter((attr) => attr !== type) };
}

export function attrValue(spec: { attrs: Field[] }, key: string): string | undefined {
  return spec.attrs.find((attr) => attr.key === key)?.value;
}

/** `k=v,k2=v2`, quoted where buildx's CSV reader needs it. */
export function formatFields(fields: Field[]): string {
  return writeCsvRecord(fields.map((field) => `${field.key}=${field.value}`));
}

export function formatExporterSpec(spec: ExporterSpec): string {
  return formatFields([{ key: 'type', value: spec.type }, ...spec.attrs]);
}

/** A spec the user wrote that buildx would refuse. */
export class SpecError extends Error {}

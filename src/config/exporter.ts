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

/** How a kind of spec reads: what one bare word means, and the types it may name. */
export interface SpecGrammar {
  bare(word: string): ExporterSpec;
  /** Every type allowed; undefined when any is. */
  types?: string[];
  /** The types named in the message when the type is missing or unknown. */
  expected: string;
}

/** buildx's `--output`: a single path is the local exporter's `dest`. */
export const outputGrammar: SpecGrammar = {
  bare(word) {
    if (word === '-') throw new SpecError('writing the result to standard output (-) is not supported here; use type=tar,dest=FILE');
    return { type: 'local', attrs: [{ key: 'dest', value: word }] };
  },
  expected: 'local, tar, oci, docker, image, registry',
};

/**
 * Reads a spec as buildx does: CSV fields of `key=value` (Go's encoding/csv), or one bare
 * word. Throws a message without the option name; the caller adds the option path.
 */
export function parseSpec(spec: string, grammar: SpecGrammar): ExporterSpec {
  let fields: string[];
  try {
    fields = readCsvRecord(spec);
  } catch (error) {
    if (error instanceof CsvError) throw new SpecError(`${error.message}; got ${JSON.stringify(spec)}`);
    throw error;
  }
  if (fields.length === 1 && !fields[0]?.includes('=')) return grammar.bare(fields[0] ?? '');
  const attrs = fields.map((field) => {
    const eq = field.indexOf('=');
    if (eq <= 0) throw new SpecError(`expected key=value fields; got ${JSON.stringify(field)} in ${JSON.stringify(spec)}`);
    return { key: field.slice(0, eq).trim().toLowerCase(), value: field.slice(eq + 1) };
  });
  const type = attrs.find((attr) => attr.key === 'type');
  if (!type || type.value === '' || (grammar.types && !grammar.types.includes(type.value))) {
    throw new SpecError(`expected a type= field (${grammar.expected}); got ${JSON.stringify(spec)}`);
  }
  return { type: type.value, attrs: attrs.filter((attr) => attr !== type) };
}

export function parseExporterSpec(spec: string): ExporterSpec {
  return parseSpec(spec, outputGrammar);
}

/** The specs of a list option; each bad one is an error naming `option[i]`. */
export function parseSpecs(specs: string[], option: string, grammar: SpecGrammar, errors: string[]): ExporterSpec[] {
  return specs.flatMap((spec, index) => {
    try {
      return [parseSpec(spec, grammar)];
    } catch (error) {
      if (!(error instanceof SpecError)) throw error;
      errors.push(`${option}[${index}]: ${error.message}`);
      return [];
    }
  });
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

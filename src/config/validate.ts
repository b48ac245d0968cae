import type { ErrorObject } from 'ajv';
import validator from 'virtual:config-validator';
import { JsonSchema, configurationSchema, resolveRef } from './schema';

export type ValidationResult = { ok: true; value: Record<string, unknown> } | { ok: false; errors: string[] };

/** Validates (and defaults, in place) a decoded configuration; every problem at once. */
export function validateConfig(raw: unknown): ValidationResult {
  const value = structuredClone(raw ?? {}) as Record<string, unknown>;
  if (validator(value)) return { ok: true, value };
  return { ok: false, errors: describeErrors(validator.errors ?? [], value) };
}

/** `/build-args/0` → `build-args[0]`, `/builder/tls/ca` → `builder.tls.ca`. */
function optionPath(instancePath: string, child?: string): string {
  const parts = instancePath.split('/').slice(1).map(unescapePointer);
  if (child !== undefined) parts.push(child);
  return parts.reduce((path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path ? `${path}.${part}` : part), '');
}

function describeErrors(all: ErrorObject[], value: unknown): string[] {
  // An enum's message names what is expected and what was given: its type error says it again.
  const enums = new Set(all.filter((e) => e.keyword === 'enum').map((e) => e.instancePath));
  const errors = all.filter((e) => !(e.keyword === 'type' && enums.has(e.instancePath)));
  const anyOfs = errors.filter((e) => e.keyword === 'anyOf');
  const messages: string[] = [];
  for (const error of errors) {
    const owner = anyOfs.find((a) => a !== error && isInside(error, a));
    if (owner) {
      // A branch's own error matters only when the value has that branch's shape.
      const data = valueAt(value, owner.instancePath);
      const branch = Number(error.schemaPath.slice(owner.schemaPath.length + 1).split('/')[0]);
      const branchSchema = resolveRef((schemaAt(owner.schemaPath) as JsonSchema[])[branch] ?? {});
      // Its type error at the anyOf's own place is the anyOf's message; an unknown key there is not.
      if (shapeOf(data) !== shapeOfSchema(branchSchema) || (error.instancePath === owner.instancePath && error.keyword === 'type')) continue;
      messages.push(describe(error, value));
      continue;
    }
    if (error.keyword === 'anyOf') {
      const data = valueAt(value, error.instancePath);
      const branches = (schemaAt(error.schemaPath) as JsonSchema[]).map((s) => resolveRef(s));
      if (branches.some((b) => shapeOfSchema(b) === shapeOf(data) && shapeOf(data) !== 'scalar')) continue;
      messages.push(`${optionPath(error.instancePath)}: expected ${branches.map(expected).join(' or ')}, got ${got(data)}`);
      continue;
    }
    messages.push(describe(error, value));
  }
  return [...new Set(messages)];
}

function isInside(error: ErrorObject, anyOf: ErrorObject): boolean {
  const samePlace = error.instancePath === anyOf.instancePath || error.instancePath.startsWith(`${anyOf.instancePath}/`);
  return samePlace && error.schemaPath.startsWith(`${anyOf.schemaPath}/`);
}

function describe(error: ErrorObject, value: unknown): string {
  const path = optionPath(error.instancePath);
  const data = valueAt(value, error.instancePath);
  switch (error.keyword) {
    case 'additionalProperties': {
      const name = String(error.params.additionalProperty);
      const known = Object.keys((schemaAt(error.schemaPath.replace(/\/additionalProperties$/, '')) as JsonSchema).properties ?? {});
      return `${optionPath(error.instancePath, name)}: unknown option; expected one of: ${known.join(', ')}`;
    }
    case 'type':
      return `${path}: expected ${article(String(error.params.type))}, got ${got(data)}`;
    case 'enum':
      return `${path}: expected one of ${(error.params.allowedValues as unknown[]).join(', ')}; got ${got(data)}`;
    case 'minLength':
      return `${path}: expected a value that is not empty; got ${got(data)}`;
    case 'pattern':
      return `${path}: expected a value matching ${error.params.pattern}; got ${got(data)}`;
    case 'minimum':
    case 'maximum':
      return `${path}: expected ${error.keyword === 'minimum' ? 'at least' : 'at most'} ${error.params.limit}; got ${got(data)}`;
    case 'required':
      return `${optionPath(error.instancePath, String(error.params.missingProperty))}: is required`;
    default:
      return `${path || '(configuration)'}: fails the schema's ${error.keyword} rule ${JSON.stringify(error.params)}`;
  }
}

function expected(schema: JsonSchema): string {
  const type = Array.isArray(schema.type) ? schema.type.join(' or ') : schema.type;
  if (type === 'array') return `a list of ${plural(resolveRef(schema.items ?? {}))}`;
  if (type === 'object' && typeof schema.additionalProperties === 'object') return 'a map';
  return article(type ?? 'value');
}

function plural(schema: JsonSchema): string {
  return schema.type === 'object' ? 'maps' : `${schema.type ?? 'value'}s`;
}

function article(type: string): string {
  if (type.includes(',')) {
    const types = type.split(',');
    return `a ${types.slice(0, -1).join(', ')} or ${types[types.length - 1]}`;
  }
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function got(data: unknown): string {
  if (data === undefined) return 'nothing';
  if (Array.isArray(data)) return 'a list';
  if (data === null) return 'null';
  if (typeof data === 'object') return 'a map';
  return `${typeof data} ${JSON.stringify(data)}`;
}

function shapeOf(data: unknown): 'array' | 'object' | 'scalar' {
  if (Array.isArray(data)) return 'array';
  return data !== null && typeof data === 'object' ? 'object' : 'scalar';
}

function shapeOfSchema(schema: JsonSchema): 'array' | 'object' | 'scalar' {
  return schema.type === 'array' ? 'array' : schema.type === 'object' ? 'object' : 'scalar';
}

function valueAt(value: unknown, instancePath: string): unknown {
  return instancePath
    .split('/')
    .slice(1)
    .map(unescapePointer)
    .reduce<unknown>((v, key) => (v as Record<string, unknown> | undefined)?.[key], value);
}

function schemaAt(schemaPath: string): unknown {
  return schemaPath
    .replace(/^#/, '')
    .split('/')
    .slice(1)
    .map(unescapePointer)
    .reduce<unknown>((s, key) => (s as Record<string, unknown> | undefined)?.[key], configurationSchema);
}

function unescapePointer(part: string): string {
  return part.replace(/~1/g, '/').replace(/~0/g, '~');
}

import { envKey } from './plugin-name';
import { JsonSchema, configurationSchema, resolveRef } from './schema';

type Env = Record<string, string | undefined>;

/**
 * Rebuilds the configuration from the agent's flattened variables (`PREFIX_KEY`, arrays as
 * `_0`, `_1`, maps as `_KEY`), guided by the schema since every value arrives as a string.
 * Map keys come back upper-cased: the agent loses their case. Variables that match no
 * option are kept under a guessed name so validation reports them as unknown.
 */
export function decodeFlattened(env: Env, prefix: string, schema: JsonSchema = configurationSchema): Record<string, unknown> {
  const all = Object.keys(env).filter((name) => name.startsWith(`${prefix}_`));
  // The agent also sets a deprecated single-underscore copy of every name with a run of
  // underscores (`A__B` → `A_B`); the copy is not an option of its own.
  const copies = new Set(all.filter((name) => /__/.test(name)).map((name) => name.replace(/_+/g, '_')));
  const names = all.filter((name) => !copies.has(name) || /__/.test(name));
  return decodeObject(resolveRef(schema), prefix, names, env) ?? {};
}

function decode(schema: JsonSchema, name: string, names: string[], env: Env): unknown {
  schema = resolveRef(schema);
  const exact = env[name];
  const nested = names.filter((n) => n.startsWith(`${name}_`));
  if (schema.anyOf) {
    const branch = pickBranch(
      schema.anyOf.map((s) => resolveRef(s)),
      exact !== undefined,
      nested,
      name,
    );
    return branch ? decode(branch, name, names, env) : exact === undefined && nested.length > 0 ? decodeShape(name, nested, env) : exact;
  }
  const type = primaryType(schema);
  if (type === 'array') {
    // A scalar where a list belongs (SECRETS=5) stays a scalar, for validation to refuse.
    if (nested.length === 0) return exact;
    return nested.some((n) => isListItem(n, name)) ? decodeArray(schema, name, nested, env) : decodeShape(name, nested, env);
  }
  if (type === 'object') return nested.length > 0 ? decodeObject(schema, name, nested, env) : exact;
  // A scalar option given as a list or a map: its variables keep that shape, for validation to refuse.
  if (exact === undefined && nested.length > 0) return decodeShape(name, nested, env);
  return exact === undefined ? undefined : coerceScalar(schema, exact);
}

function isListItem(variable: string, name: string): boolean {
  return /^\d+(_|$)/.test(variable.slice(name.length + 1));
}

/**
 * Variables of an option whose schema has no branch of their shape (`TAGS_RELEASE=v1` for
 * `tags`): decoded as the list or map they show, so validation refuses them naming the
 * option, instead of the option silently disappearing.
 */
function decodeShape(name: string, nested: string[], env: Env): unknown {
  if (nested.some((n) => isListItem(n, name))) return decodeArray({}, name, nested, env);
  const result: Record<string, unknown> = {};
  for (const n of nested)
    result[
      n
        .slice(name.length + 1)
        .toLowerCase()
        .replace(/_/g, '-')
    ] = env[n];
  return result;
}

function pickBranch(branches: JsonSchema[], hasExact: boolean, nested: string[], name: string): JsonSchema | undefined {
  if (hasExact) return branches.find((b) => primaryType(b) !== 'array' && primaryType(b) !== 'object');
  if (nested.length === 0) return undefined;
  const looksLikeList = nested.some((n) => isListItem(n, name));
  return branches.find((b) => primaryType(b) === (looksLikeList ? 'array' : 'object'));
}

function decodeArray(schema: JsonSchema, name: string, nested: string[], env: Env): unknown[] | undefined {
  if (nested.length === 0) return undefined;
  const items: unknown[] = [];
  for (let i = 0; nested.some((n) => n === `${name}_${i}` || n.startsWith(`${name}_${i}_`)); i++) {
    items.push(decode(schema.items ?? {}, `${name}_${i}`, nested, env));
  }
  return items;
}

function decodeObject(schema: JsonSchema, name: string, nested: string[], env: Env): Record<string, unknown> | undefined {
  const result: Record<string, unknown> = {};
  const properties = Object.entries(schema.properties ?? {});
  // Longest option name first, so `build-args` never swallows a variable of `build-args-x`.
  properties.sort(([a], [b]) => b.length - a.length);
  const claimed = new Set<string>();
  for (const [key, propertySchema] of properties) {
    const propertyName = `${name}_${envKey(key)}`;
    const mine = nested.filter((n) => !claimed.has(n) && (n === propertyName || n.startsWith(`${propertyName}_`)));
    mine.forEach((n) => claimed.add(n));
    if (mine.length === 0) continue;
    result[key] = decode(propertySchema, propertyName, mine, env);
  }
  for (const n of nested.filter((v) => !claimed.has(v))) {
    const rest = n.slice(name.length + 1);
    if (typeof schema.additionalProperties === 'object') {
      // A map: the rest of the name is the (upper-cased) key.
      result[rest] = coerceScalar(schema.additionalProperties, env[n] as string);
    } else {
      result[rest.toLowerCase().replace(/_/g, '-')] = env[n];
    }
  }
  return result;
}

function primaryType(schema: JsonSchema): string | undefined {
  if (Array.isArray(schema.type)) return schema.type[0];
  if (schema.type) return schema.type;
  if (schema.properties || schema.additionalProperties !== undefined) return 'object';
  if (schema.items) return 'array';
  return undefined;
}

function coerceScalar(schema: JsonSchema, value: string): unknown {
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  if (types.includes('string')) return value;
  if (types.includes('boolean') && (value === 'true' || value === 'false')) return value === 'true';
  if ((types.includes('integer') || types.includes('number')) && /^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  return value;
}

import plugin from '../../plugin.yml';

export type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  $ref?: string;
  definitions?: Record<string, JsonSchema>;
  default?: unknown;
};

/** The `configuration` schema from plugin.yml, inlined by the bundler at build time. */
export const configurationSchema = (plugin as { configuration: JsonSchema }).configuration;

/** Follows a local `#/definitions/x` reference, as the flattened decoder needs to. */
export function resolveRef(schema: JsonSchema, root: JsonSchema = configurationSchema): JsonSchema {
  if (!schema.$ref) return schema;
  const name = schema.$ref.replace('#/definitions/', '');
  const target = root.definitions?.[name];
  if (!target) throw new Error(`plugin.yml: unknown $ref ${schema.$ref}`);
  return { ...target, ...schema, $ref: undefined };
}

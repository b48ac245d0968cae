declare module '*.yml' {
  const value: unknown;
  export default value;
}

declare module 'virtual:config-validator' {
  import type { ValidateFunction } from 'ajv';
  const validate: ValidateFunction;
  export default validate;
}

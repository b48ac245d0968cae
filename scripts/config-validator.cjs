// Build-time helpers for plugin.yml, used by the bundler and by jest: the schema's
// standalone validator code (ajv), so the hooks validate without compiling a schema at
// start-up, and plugin.yml as the hooks import it, without the descriptions they never read.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const Ajv = require('ajv');
const standalone = require('ajv/dist/standalone').default;
const YAML = require('yaml');

// No `verbose` or `messages`: src/config/validate.ts words every error itself from the
// error's paths, and both would add about 9 KB to every hook bundle.
function configValidatorSource(pluginYml = join(__dirname, '..', 'plugin.yml')) {
  const { configuration } = YAML.parse(readFileSync(pluginYml, 'utf8'));
  const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: false, messages: false, strict: false, code: { source: true } });
  return standalone(ajv, ajv.compile(configuration));
}

/** A YAML file as the bundle holds it: parsed, with every `description` left out. */
function yamlModuleJson(text) {
  const strip = (value) => {
    if (Array.isArray(value)) return value.map(strip);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key]) => key !== 'description')
        .map(([key, v]) => [key, strip(v)]),
    );
  };
  return JSON.stringify(strip(YAML.parse(text)));
}

module.exports = { configValidatorSource, yamlModuleJson };

// Compiles plugin.yml's configuration schema into standalone validator code (ajv), so the
// hooks validate without compiling a schema at start-up. Used by the bundler and by jest.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const Ajv = require('ajv');
const standalone = require('ajv/dist/standalone').default;
const YAML = require('yaml');

function configValidatorSource(pluginYml = join(__dirname, '..', 'plugin.yml')) {
  const { configuration } = YAML.parse(readFileSync(pluginYml, 'utf8'));
  const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: false, code: { source: true } });
  return standalone(ajv, ajv.compile(configuration));
}

module.exports = { configValidatorSource };

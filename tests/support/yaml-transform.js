// Lets jest import plugin.yml the way the esbuild bundle does: as a parsed module.
const { yamlModuleJson } = require('../../scripts/config-validator.cjs');

module.exports = {
  process(source) {
    return { code: `module.exports = ${yamlModuleJson(source)};` };
  },
};

// Lets jest import plugin.yml the way the esbuild bundle does: as a parsed module.
const YAML = require('yaml');

module.exports = {
  process(source) {
    return { code: `module.exports = ${JSON.stringify(YAML.parse(source))};` };
  },
};

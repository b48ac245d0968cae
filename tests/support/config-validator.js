// jest's stand-in for the bundler's `virtual:config-validator` module: the same code,
// generated from plugin.yml by the same function.
const Module = require('node:module');
const { join } = require('node:path');
const { configValidatorSource } = require('../../scripts/config-validator.cjs');

const filename = join(__dirname, '..', '..', 'src', 'config', 'config-validator.generated.js');
const mod = new Module(filename, module);
mod.filename = filename;
mod.paths = Module._nodeModulePaths(join(__dirname, '..', '..'));
mod._compile(configValidatorSource(), filename);
module.exports = mod.exports;

// Bundles each hook and the CLI into one self-contained file in dist/.
// plugin.yml is parsed (and its schema compiled) here, at build time: one source of truth,
// no schema compilation when a hook starts.
import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

const { configValidatorSource, yamlModuleJson } = createRequire(import.meta.url)('./config-validator.cjs');

const pluginYml = {
  name: 'plugin-yml',
  setup(b) {
    b.onResolve({ filter: /^virtual:config-validator$/ }, () => ({ path: 'config-validator', namespace: 'virtual' }));
    b.onLoad({ filter: /.*/, namespace: 'virtual' }, () => ({
      contents: configValidatorSource(),
      loader: 'js',
      resolveDir: process.cwd(),
    }));
    b.onLoad({ filter: /\.yml$/ }, async (args) => ({
      contents: yamlModuleJson(await readFile(args.path, 'utf8')),
      loader: 'json',
    }));
  },
};

const entries = ['environment', 'command', 'pre-exit'].map((hook) => ({
  in: `src/hooks/${hook}.ts`,
  out: hook,
}));
entries.push({ in: 'src/cli/main.ts', out: 'cli' });
entries.push({ in: 'src/registry/credential-helper-main.ts', out: 'credential-helper' });

// Bundles of their own, loaded by the hooks only for the jobs that need them: dist/ecr.js
// (the AWS SDK, big) when the job logs in to ECR, dist/image-tools.js (the input hashing
// and the registry client) with skip-unchanged or promote.
const apart = { 'src/registry/ecr': 'ecr', 'src/run/image-tools': 'image-tools' };
const apartByPath = new Map(Object.entries(apart).map(([path, out]) => [resolve(path), out]));
const keepApart = {
  name: 'keep-apart',
  setup(b) {
    // Those source files, however they are imported; nothing else of their names.
    b.onResolve({ filter: /(^|\/)(ecr|image-tools)$/ }, (args) => {
      const out = apartByPath.get(resolve(args.resolveDir, args.path));
      return out ? { path: `./${out}.js`, external: true } : undefined;
    });
  },
};

const common = {
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  legalComments: 'none',
  charset: 'utf8',
  logLevel: 'warning',
};

await build({ ...common, entryPoints: entries, plugins: [pluginYml, keepApart] });
await build({ ...common, entryPoints: Object.entries(apart).map(([path, out]) => ({ in: `${path}.ts`, out })) });

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

// The AWS SDK is big: it lives in dist/ecr.js, which the command hook and the credential
// helper load only when the job logs in to ECR.
const ecrEntry = resolve('src/registry/ecr');
const ecrApart = {
  name: 'ecr-apart',
  setup(b) {
    // src/registry/ecr.ts, however it is imported; nothing else of that name.
    b.onResolve({ filter: /(^|\/)ecr$/ }, (args) => (resolve(args.resolveDir, args.path) === ecrEntry ? { path: './ecr.js', external: true } : undefined));
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

await build({ ...common, entryPoints: entries, plugins: [pluginYml, ecrApart] });
await build({ ...common, entryPoints: [{ in: 'src/registry/ecr.ts', out: 'ecr' }] });

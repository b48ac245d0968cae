import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { seconds } from './options';
import { ConfigForm } from './plugin-env';
import { runStep } from './run-step';

const usage = `usage: node dist/cli.js run [options]
Runs one step of a pipeline.yml through this plugin's hooks, as a Buildkite agent would.
  --pipeline FILE     the pipeline (default .buildkite/pipeline.yml in --dir)
  --step KEY|LABEL    the step to run (default: the first step using the buildkit plugin)
  --dir DIR           the checkout to build in (default: the current directory)
  --env K=V           a job variable (repeatable)
  --agent-secret K=V  a Buildkite secret, for buildkite-agent secret get K (repeatable)
  --config-form F     both (default: what agents >= 3.28 send), flattened (older agents), or json
                      (test-only, no agent sends it alone: the JSON verbatim, nulls and non-map
                      configurations included, plus the variables the hook shims read)
  --agent-dir DIR     keep the buildkite-agent stand-in's meta-data and annotations here
  --cancel-after S    cancel the job after S seconds (a number, e.g. 1.5), as the agent does
  --grace S           seconds between SIGTERM and SIGKILL on cancel (default 10)
  --cancel-shell-only on cancel, signal the hook's shell alone, not its process group
  --kubernetes PATH   run as agent-stack-k8s does: the environment hook first in a checkout
                      container whose PATH is PATH (no Node.js there), then the command container
  --json              print the result as JSON`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      pipeline: { type: 'string' },
      step: { type: 'string' },
      dir: { type: 'string', default: '.' },
      env: { type: 'string', multiple: true, default: [] },
      'agent-secret': { type: 'string', multiple: true, default: [] },
      'config-form': { type: 'string', default: 'both' },
      'agent-dir': { type: 'string' },
      'cancel-after': { type: 'string' },
      grace: { type: 'string', default: '10' },
      'cancel-shell-only': { type: 'boolean', default: false },
      kubernetes: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help || positionals[0] !== 'run') {
    process.stdout.write(`${usage}\n`);
    return values.help ? 0 : 2;
  }
  const form = values['config-form'] as ConfigForm;
  if (!['both', 'json', 'flattened'].includes(form)) throw new Error('--config-form: expected both, json or flattened');
  const env = keyValues('--env', values.env as string[]);
  const dir = resolve(values.dir as string);
  const result = await runStep({
    pipeline: resolve(values.pipeline ?? `${dir}/.buildkite/pipeline.yml`),
    step: values.step,
    checkout: dir,
    pluginDir: resolve(__dirname, '..'),
    env,
    agentSecrets: keyValues('--agent-secret', values['agent-secret'] as string[]),
    configForm: form,
    agentDir: values['agent-dir'],
    cancelAfterSeconds: values['cancel-after'] === undefined ? undefined : seconds('--cancel-after', values['cancel-after']),
    graceSeconds: seconds('--grace', values.grace as string),
    cancelShellOnly: values['cancel-shell-only'] as boolean,
    kubernetes: values.kubernetes === undefined ? undefined : { checkoutPath: values.kubernetes },
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    process.stdout.write('--- :buildkite: local run summary\n');
    for (const [key, value] of Object.entries(result.metaData)) process.stdout.write(`meta-data ${key} = ${value}\n`);
    for (const [context, body] of Object.entries(result.annotations)) process.stdout.write(`annotation ${context}:\n${body}\n`);
    for (const [hook, ms] of Object.entries(result.hookMs)) process.stdout.write(`hook ${hook}: ${ms} ms\n`);
    process.stdout.write(`exit status ${result.code}\n`);
  }
  return result.code;
}

function keyValues(flag: string, pairs: string[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`${flag}: expected K=V, got ${JSON.stringify(pair.slice(0, 40))}`);
    result[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return result;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: Error) => {
    process.stderr.write(`buildkit-local: ${error.message}\n`);
    process.exitCode = 2;
  },
);

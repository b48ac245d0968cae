import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentClient } from '../../src/agent/buildkite-agent';
import { pluginEnv } from '../../src/cli/plugin-env';
import { loadConfig } from '../../src/config/load-config';
import { buildctlBuildArgs } from '../../src/engines/buildctl-args';
import { buildxBuildArgv } from '../../src/engines/buildx-args';
import { planBuildRequest } from '../../src/plan/build-request';
import { buildWritesMetadata, commandHook } from '../support/command-hook';
import { defined } from '../support/defined';
import { fakeRuntime } from '../support/fake-runtime';
import { scratchDir } from '../support/scratch';

function load(config: Record<string, unknown>, form: 'json' | 'flattened' = 'json') {
  return loadConfig({ PATH: '/usr/bin', ...pluginEnv('buildkit#v1', config, form) });
}

function errorsOf(config: Record<string, unknown>, form: 'json' | 'flattened' = 'json') {
  const result = load(config, form);
  if (result.ok) throw new Error('expected errors');
  return result.errors;
}

function configOf(config: Record<string, unknown>, form: 'json' | 'flattened' = 'json') {
  const result = load(config, form);
  if (!result.ok) throw new Error(result.errors.join('\n'));
  return result.config;
}

const refusal = (name: string, id: string) =>
  `build-args: ${name} looks like a secret, and build-args land in the image history (and in the provenance attestation with mode=max). ` +
  `Pass it as a build secret: secrets: [{ id: ${id}, env: ${name} }] and RUN --mount=type=secret,id=${id} in the Dockerfile. ` +
  `If it is not a secret, allow the name: allow-build-args: [${name}]`;

describe('secrets, ssh and allow-build-args: the configuration', () => {
  const secrets = [
    { id: 'npm', env: 'NPM_TOKEN' },
    { id: 'netrc', file: '.netrc' },
    { id: 'deploy', 'buildkite-secret': 'DEPLOY_KEY' },
  ];

  test.each(['json', 'flattened'] as const)('the three sources and ssh read the same in the %s form', (form) => {
    const config = configOf({ secrets, ssh: ['default', 'github=keys/github,keys/other'] }, form);
    expect(config.secrets).toEqual([
      { id: 'npm', env: 'NPM_TOKEN' },
      { id: 'netrc', file: '.netrc' },
      { id: 'deploy', buildkiteSecret: 'DEPLOY_KEY' },
    ]);
    expect(config.ssh).toEqual([
      { id: 'default', paths: [] },
      { id: 'github', paths: ['keys/github', 'keys/other'] },
    ]);
  });

  test.each(['json', 'flattened'] as const)('ssh: true is the agent socket as default; false is none (%s)', (form) => {
    expect(configOf({ ssh: true }, form).ssh).toEqual([{ id: 'default', paths: [] }]);
    expect(configOf({ ssh: false }, form).ssh).toEqual([]);
  });

  test('each secret needs exactly one source and an id of its own', () => {
    expect(
      errorsOf({
        secrets: [{ id: 'a' }, { id: 'b', env: 'B', file: 'b.txt' }, { id: 'c', env: 'C' }, { id: 'c', file: 'c' }, { id: 'd', env: '' }],
      }),
    ).toEqual([
      'secrets[0]: give exactly one of env, file or buildkite-secret for the secret a',
      'secrets[1]: give exactly one of env, file or buildkite-secret for the secret b (got env and file)',
      'secrets[3]: the id c is used twice',
      'secrets[4].env: is empty',
    ]);
  });

  test('the schema: an id is required, unknown keys and bad ids are refused, naming the option', () => {
    expect(errorsOf({ secrets: [{ env: 'A' }] })).toEqual(['secrets[0].id: is required']);
    expect(errorsOf({ secrets: [{ id: 'a', value: 'hunter2' }] })).toEqual([
      'secrets[0].value: unknown option; expected one of: id, env, file, buildkite-secret',
    ]);
    expect(errorsOf({ secrets: [{ id: 'a b', env: 'A' }] })).toEqual(['secrets[0].id: expected a value matching ^[a-zA-Z0-9._-]+$; got string "a b"']);
  });

  test('a bad ssh entry names what was expected', () => {
    expect(errorsOf({ ssh: ['github='] })).toEqual(['ssh[0]: expected default, or ID=/path/to/key-or-socket; got "github="']);
    expect(errorsOf({ ssh: ['a b=/k'] })).toEqual(['ssh[0]: expected default, or ID=/path/to/key-or-socket; got "a b=/k"']);
  });

  test.each([
    ['NPM_TOKEN', 'npm_token'],
    ['DB_PASSWORD', 'db_password'],
    ['AWS_SECRET_ACCESS_KEY', 'aws_secret_access_key'],
    ['GITHUB_CREDENTIALS', 'github_credentials'],
    ['client_secret', 'client_secret'],
    ['APIKEY', 'apikey'],
  ])('a build-arg named like a secret (%s) is refused with the secrets: form to use', (name, id) => {
    expect(errorsOf({ 'build-args': [`${name}=x`] })).toEqual([refusal(name, id)]);
  });

  test.each(['json', 'flattened'] as const)('allow-build-args allows exactly the names it lists (%s)', (form) => {
    expect(configOf({ 'build-args': ['CACHE_KEY=v1'], 'allow-build-args': ['CACHE_KEY'] }, form).buildArgs).toEqual([{ key: 'CACHE_KEY', value: 'v1' }]);
    expect(configOf({ 'build-args': ['CACHE_KEY=v1'], 'allow-build-args': 'CACHE_KEY' }, form).buildArgs).toHaveLength(1);
    expect(errorsOf({ 'build-args': ['CACHE_KEY=v1', 'SORT_KEY=name'], 'allow-build-args': ['CACHE_KEY'] }, form)).toEqual([refusal('SORT_KEY', 'sort_key')]);
  });

  test('names that merely contain a word are not secret-looking', () => {
    expect(configOf({ 'build-args': ['KEYBOARD=us', 'TOKENIZER=bpe', 'PASSWORDLESS=1', 'NODE_ENV=production'] }).buildArgs).toHaveLength(4);
  });

  test('bake declares its secrets in the bake file', () => {
    expect(errorsOf({ bake: { files: ['docker-bake.hcl'] }, secrets: [{ id: 'a', env: 'A' }] })).toEqual([
      'secrets: with bake, declare secrets and ssh in the bake file (secret = [...], ssh = [...])',
    ]);
    expect(errorsOf({ bake: { files: ['docker-bake.hcl'] }, ssh: true })).toEqual([
      'ssh: with bake, declare secrets and ssh in the bake file (secret = [...], ssh = [...])',
    ]);
  });
});

describe('secrets and ssh on the command line of every engine', () => {
  const config = configOf({
    secrets: [
      { id: 'npm', env: 'NPM_TOKEN' },
      { id: 'netrc', file: 'creds/.netrc' },
      { id: 'abs', file: '/etc/creds' },
      { id: 'deploy', 'buildkite-secret': 'DEPLOY_KEY' },
    ],
    ssh: ['default', 'github=keys/github'],
  });
  const { request } = planBuildRequest(config, { BUILDKITE_BUILD_CHECKOUT_PATH: '/build/app' }, '/tmp/state', new Date(0));
  const flags = [
    '--secret',
    'id=npm,env=NPM_TOKEN',
    '--secret',
    'id=netrc,src=/build/app/creds/.netrc',
    '--secret',
    'id=abs,src=/etc/creds',
    '--secret',
    'id=deploy,src=/tmp/state/secret-deploy',
    '--ssh',
    'default',
    '--ssh',
    'github=/build/app/keys/github',
  ];

  test('buildx: --secret by variable or file (a Buildkite secret is a file in the state dir), --ssh', () => {
    const argv = buildxBuildArgv(request);
    const at = argv.indexOf('--secret');
    expect(argv.slice(at, at + flags.length)).toEqual(flags);
  });

  test('buildctl: the same flags', () => {
    const argv = buildctlBuildArgs(request, '/tmp/state/load.tar');
    const at = argv.indexOf('--secret');
    expect(argv.slice(at, at + flags.length)).toEqual(flags);
  });

  test('a path with a comma is quoted as BuildKit reads the CSV', () => {
    const { request: quoted } = planBuildRequest(configOf({ secrets: [{ id: 'a', file: '/x,y' }] }), {}, '/s', new Date(0));
    expect(buildxBuildArgv(quoted)).toContain('id=a,"src=/x,y"');
  });
});

describe('the command hook with secrets', () => {
  const secretsConfig = (dir: string) => ({
    secrets: [
      { id: 'npm', env: 'NPM_TOKEN' },
      { id: 'netrc', file: join(dir, 'netrc') },
      { id: 'deploy', 'buildkite-secret': 'deploy_key' },
    ],
  });

  /** A checkout-less scratch dir with a secret file in it. */
  function secretDir(): string {
    const dir = scratchDir('secrets-');
    writeFileSync(join(dir, 'netrc'), 'machine example.com password file-value\n');
    return dir;
  }

  test('every value is registered for redaction (a Buildkite secret too: older agents do not register it), the Buildkite secret is a 0600 file during the build, and gone after', async () => {
    const dir = secretDir();
    let seen: { mode: number; stateDirMode: number } | undefined;
    const fake = fakeRuntime((argv) => {
      const src = argv.find((a) => a.startsWith('id=deploy,src='))?.slice('id=deploy,src='.length);
      if (src) seen = { mode: statSync(src).mode & 0o777, stateDirMode: statSync(join(src, '..')).mode & 0o777 };
      return buildWritesMetadata(argv);
    });
    fake.agentSecrets.deploy_key = 'agent-value';
    const job = await commandHook(secretsConfig(dir), fake, { NPM_TOKEN: 'env-value' });
    expect(job.code).toBe(0);
    expect(fake.redacted.sort()).toEqual(['agent-value', 'env-value', 'machine example.com password file-value\n']);
    expect(seen).toEqual({ mode: 0o600, stateDirMode: 0o700 });
    expect(readdirSync(job.stateDir).filter((f) => f.startsWith('secret-'))).toEqual([]);
    const build = defined(
      job.calls.find((c) => c.argv.includes('build')),
      'the build',
    );
    expect(build.argv).toContain('id=npm,env=NPM_TOKEN');
    expect(build.options.env?.NPM_TOKEN).toBe('env-value');
    for (const value of ['agent-value', 'env-value', 'file-value']) {
      expect(job.log).not.toContain(value);
      expect(JSON.stringify(job.metaData)).not.toContain(value);
      expect(JSON.stringify(job.annotations)).not.toContain(value);
      expect(JSON.stringify(job.calls.map((c) => c.argv))).not.toContain(value);
    }
  });

  test('the secret file is gone before the step command runs, and after a failed build', async () => {
    const dir = secretDir();
    const filesAtStepCommand: string[] = [];
    const fake = fakeRuntime((argv, options) => {
      if (argv[0] === '/bin/bash') filesAtStepCommand.push(...readdirSync(defined(options.env?.BUILDKIT_PLUGIN_STATE_DIR, 'the state dir')));
      return buildWritesMetadata(argv);
    });
    fake.agentSecrets.deploy_key = 'v';
    const job = await commandHook(secretsConfig(dir), fake, { NPM_TOKEN: 'e' });
    expect(job.code).toBe(0);
    expect(filesAtStepCommand).toContain('build-metadata.json');
    expect(filesAtStepCommand.filter((f) => f.startsWith('secret-'))).toEqual([]);

    let duringBuild = false;
    const failing = fakeRuntime((argv) => {
      if (!argv.includes('build')) return undefined;
      duringBuild = existsSync(defined(argv.find((a) => a.startsWith('id=deploy,src='))?.slice('id=deploy,src='.length), 'the deploy secret'));
      return { code: 1 };
    });
    failing.agentSecrets.deploy_key = 'v';
    const failed = await commandHook(secretsConfig(dir), failing, { NPM_TOKEN: 'e' });
    expect(failed.code).toBe(1);
    expect(duringBuild).toBe(true);
    expect(existsSync(join(failed.stateDir, 'secret-deploy'))).toBe(false);
  });

  test('every missing source is named by id and source, never by value, and nothing runs', async () => {
    const dir = scratchDir('secrets-');
    mkdirSync(join(dir, 'a-directory'));
    const fake = fakeRuntime();
    const hook = commandHook(
      {
        secrets: [
          { id: 'npm', env: 'NPM_TOKEN' },
          { id: 'empty', env: 'EMPTY_TOKEN' },
          { id: 'netrc', file: join(dir, 'missing') },
          { id: 'dir', file: join(dir, 'a-directory') },
          { id: 'deploy', 'buildkite-secret': 'deploy_key' },
        ],
        ssh: ['default', `github=${join(dir, 'no-key')}`],
      },
      fake,
      { EMPTY_TOKEN: '', SSH_AUTH_SOCK: '' },
    );
    await expect(hook).rejects.toMatchObject({
      message: 'a build secret or SSH source is missing:',
      details: [
        'secrets[0] (id npm): the job variable NPM_TOKEN is not set',
        'secrets[1] (id empty): the job variable EMPTY_TOKEN is not set',
        `secrets[2] (id netrc): the file ${join(dir, 'missing')} does not exist`,
        `secrets[3] (id dir): ${join(dir, 'a-directory')} is not a file`,
        'secrets[4] (id deploy): buildkite-agent secret get deploy_key failed: secret "deploy_key" not found',
        'ssh[0] (default): forwards the agent\'s SSH agent, and this job has no SSH_AUTH_SOCK; start ssh-agent on the agent, or give a key: ssh: ["default=/path/to/key"]',
        `ssh[1] (github): ${join(dir, 'no-key')} does not exist`,
      ],
    });
    expect(fake.calls).toEqual([]);
    expect(fake.redacted).toEqual([]);
  });

  test('SSH_AUTH_SOCK that points nowhere is named', async () => {
    await expect(commandHook({ ssh: true }, fakeRuntime(), { SSH_AUTH_SOCK: '/nonexistent/agent.sock' })).rejects.toMatchObject({
      details: ['ssh[0] (default): SSH_AUTH_SOCK is /nonexistent/agent.sock, which does not exist: is the SSH agent running?'],
    });
  });

  test('a file secret relative to the checkout is read there', async () => {
    const fake = fakeRuntime(buildWritesMetadata);
    const checkout = scratchDir('checkout-');
    mkdirSync(join(checkout, 'creds'));
    writeFileSync(join(checkout, 'creds', 'token'), 'relative-value');
    const job = await commandHook({ secrets: [{ id: 't', file: 'creds/token' }] }, fake, { BUILDKITE_BUILD_CHECKOUT_PATH: checkout });
    expect(job.code).toBe(0);
    expect(fake.redacted).toEqual(['relative-value']);
    expect(fake.calls.find((c) => c.argv.includes('build'))?.argv).toContain(`id=t,src=${checkout}/creds/token`);
  });

  test("a build-arg carrying a secret's value is refused, without the value, before anything runs", async () => {
    const fake = fakeRuntime();
    const hook = commandHook({ secrets: [{ id: 'npm', env: 'NPM_TOKEN' }], 'build-args': ['REGISTRY_LOGIN=env-value'] }, fake, { NPM_TOKEN: 'env-value' });
    await expect(hook).rejects.toThrow(
      'build-args: REGISTRY_LOGIN has the value of the secret npm, and build-args land in the image history: drop the build-arg and read the secret in the Dockerfile with RUN --mount=type=secret,id=npm',
    );
    expect(fake.calls).toEqual([]);
  });

  test('without a working redactor (agent < 3.66) the job warns and goes on', async () => {
    const fake = fakeRuntime(buildWritesMetadata);
    fake.runtime.agent.redact = async () => false;
    const job = await commandHook({ secrets: [{ id: 'npm', env: 'NPM_TOKEN' }] }, fake, { NPM_TOKEN: 'env-value' });
    expect(job.code).toBe(0);
    expect(job.log).toContain(
      'buildkit: warning: buildkite-agent redactor add failed (it needs agent >= 3.66): secret values are not masked in the job log; the plugin itself never prints them',
    );
  });
});

describe('the agent client: secret get and redactor add', () => {
  type Call = { argv: string[]; input?: string };
  function client(answer: (argv: string[]) => { code: number; stdout?: string; stderr?: string }, onPath = true) {
    const calls: Call[] = [];
    const agent = agentClient(
      async (argv, options = {}) => {
        calls.push({ argv, input: options.input });
        return { stdout: '', stderr: '', tail: [], ...answer(argv) };
      },
      () => (onPath ? '/usr/bin/buildkite-agent' : undefined),
    );
    return { agent, calls };
  }

  test('secret get KEY: the value without the newline the agent prints after it, nothing on argv but the key', async () => {
    const { agent, calls } = client(() => ({ code: 0, stdout: 'line one\nline two\n\n' }));
    expect(await agent.secret('deploy_key')).toEqual({ value: 'line one\nline two\n' });
    expect(calls).toEqual([{ argv: ['buildkite-agent', 'secret', 'get', 'deploy_key'], input: '' }]);
  });

  test("secret get that fails: the agent's error, on one line", async () => {
    const { agent } = client(() => ({ code: 1, stderr: 'fatal: Failed to fetch some secrets:\n - secret x: not found\n' }));
    expect(await agent.secret('x')).toEqual({ error: 'fatal: Failed to fetch some secrets: - secret x: not found' });
    expect(await client(() => ({ code: 0 }), false).agent.secret('x')).toEqual({ error: 'buildkite-agent is not on PATH' });
  });

  test('redactor add: the value on stdin, never on argv', async () => {
    const { agent, calls } = client(() => ({ code: 0 }));
    expect(await agent.redact('hunter2')).toBe(true);
    expect(calls).toEqual([{ argv: ['buildkite-agent', 'redactor', 'add'], input: 'hunter2' }]);
    expect(await client(() => ({ code: 1 })).agent.redact('x')).toBe(false);
    expect(await client(() => ({ code: 0 }), false).agent.redact('x')).toBe(false);
  });
});

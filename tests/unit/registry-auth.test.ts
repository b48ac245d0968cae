import { existsSync, lstatSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pluginEnv } from '../../src/cli/plugin-env';
import { loadConfig } from '../../src/config/load-config';
import { planBuildRequest } from '../../src/plan/build-request';
import { registryHostOf } from '../../src/config/image-refs';
import { ecrRegistryOf, planLogins } from '../../src/plan/registry-logins';
import { credentialHelper } from '../../src/registry/credential-helper';
import { needsRefresh, readCredentials, writeCredentials } from '../../src/registry/credentials';
import { createDockerConfig, jobDockerConfig } from '../../src/registry/docker-config';
import { credentialSource, sessionName } from '../../src/registry/ecr-login';
import { logIn } from '../../src/run/registry-login';
import { commandHook } from '../support/command-hook';
import { captureLog, fakeRuntime } from '../support/fake-runtime';
import { scratchDir } from '../support/scratch';

const ecrHost = '123456789012.dkr.ecr.us-east-1.amazonaws.com';

function load(config: Record<string, unknown>, form: 'json' | 'flattened' = 'json') {
  return loadConfig({ PATH: '/usr/bin', ...pluginEnv('buildkit#v1', config, form) });
}

function logins(config: Record<string, unknown>, env: Record<string, string> = {}) {
  const loaded = load(config);
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const { request } = planBuildRequest(loaded.config, env, '/state', new Date(0));
  return planLogins(loaded.config, request, env);
}

describe('ECR registries, found in the configuration', () => {
  test.each([
    [ecrHost, { registryId: '123456789012', region: 'us-east-1' }],
    ['123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com', { registryId: '123456789012', region: 'us-gov-west-1' }],
    ['123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn', { registryId: '123456789012', region: 'cn-north-1' }],
    ['123456789012.dkr-ecr.eu-west-1.on.aws', { registryId: '123456789012', region: 'eu-west-1' }],
  ])('%s is a private ECR registry', (host, expected) => {
    expect(ecrRegistryOf(host)).toEqual({ host, ...expected });
  });

  test.each(['12345678901.dkr.ecr.us-east-1.amazonaws.com', `${ecrHost}:5000`, 'dkr.ecr.us-east-1.amazonaws.com', 'ghcr.io', 'ecr.example.com'])(
    '%s is not',
    (host) => {
      expect(ecrRegistryOf(host)).toBeUndefined();
    },
  );

  test('the registry of a reference, as Docker reads it', () => {
    expect(registryHostOf(`${ecrHost}/team/app:1`)).toBe(ecrHost);
    expect(registryHostOf('localhost:5000/app')).toBe('localhost:5000');
    expect(registryHostOf('library/alpine:3')).toBe('docker.io');
    expect(registryHostOf('alpine')).toBe('docker.io');
  });

  test('image, tags and image outputs are searched; each registry once', () => {
    const { plan, errors } = logins({
      image: `${ecrHost}/app`,
      tags: ['1', `${ecrHost}/other:2`, 'public.ecr.aws/acme/app:1'],
      outputs: ['type=image,"name=234567890123.dkr.ecr.eu-west-1.amazonaws.com/x:1,ghcr.io/a/b:1"'],
    });
    expect(errors).toEqual([]);
    expect(plan.ecr).toEqual([
      { host: ecrHost, registryId: '123456789012', region: 'us-east-1' },
      { host: '234567890123.dkr.ecr.eu-west-1.amazonaws.com', registryId: '234567890123', region: 'eu-west-1' },
    ]);
    expect(plan.ecrPublic).toBe(true);
  });

  test('ecr: false logs in nowhere; no ECR named logs in nowhere', () => {
    expect(logins({ image: `${ecrHost}/app`, ecr: false }).plan).toEqual({ ecr: [], ecrPublic: false, static: [] });
    expect(logins({ image: 'ghcr.io/acme/app' }).plan).toEqual({ ecr: [], ecrPublic: false, static: [] });
  });

  test('account-ids add registries in ecr.region, AWS_REGION, or the region of a named one', () => {
    expect(logins({ ecr: { 'account-ids': ['210987654321'], region: 'ap-southeast-2' } }).plan.ecr).toEqual([
      { host: '210987654321.dkr.ecr.ap-southeast-2.amazonaws.com', registryId: '210987654321', region: 'ap-southeast-2' },
    ]);
    expect(logins({ ecr: { 'account-ids': '210987654321' } }, { AWS_REGION: 'cn-north-1' }).plan.ecr[0]?.host).toBe(
      '210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn',
    );
    expect(logins({ image: `${ecrHost}/app`, ecr: { 'account-ids': ['210987654321'] } }).plan.ecr.map((r) => r.host)).toEqual([
      ecrHost,
      '210987654321.dkr.ecr.us-east-1.amazonaws.com',
    ]);
  });

  test('what cannot be planned is named with its option', () => {
    expect(logins({ ecr: { 'account-ids': ['210987654321'] } }).errors).toEqual([
      'ecr.account-ids: give ecr.region too (or set AWS_REGION): the registry of an account is per region',
    ]);
    expect(logins({ image: 'ghcr.io/a/b', ecr: true }).errors).toEqual([
      'ecr: no ECR registry is named in image, tags, outputs or cache; name the registries to log in to with ecr.account-ids (and ecr.region)',
    ]);
    expect(logins({ image: `${ecrHost}/app`, login: [{ registry: ecrHost, username: 'AWS', 'password-env': 'P' }] }).errors).toEqual([
      `login[0]: ${ecrHost} is an ECR registry the plugin logs in to itself; remove it from login (or set ecr: false)`,
    ]);
  });
});

describe('ecr and login: the configuration', () => {
  const errorsOf = (config: Record<string, unknown>, form: 'json' | 'flattened' = 'json') => {
    const result = load(config, form);
    return result.ok ? [] : result.errors;
  };

  test.each(['json', 'flattened'] as const)('the full ecr form reads the same in the %s form', (form) => {
    const result = load(
      {
        ecr: {
          'account-ids': ['210987654321'],
          region: 'eu-west-1',
          public: true,
          'assume-role': { 'role-arn': 'arn:aws:iam::210987654321:role/push', oidc: true },
        },
      },
      form,
    );
    expect(result.ok && result.config.ecr).toEqual({
      mode: 'on',
      accountIds: ['210987654321'],
      region: 'eu-west-1',
      public: true,
      assumeRole: { roleArn: 'arn:aws:iam::210987654321:role/push', sessionName: undefined, durationSeconds: undefined, oidc: true },
    });
  });

  test('bad values name the option', () => {
    expect(errorsOf({ ecr: { 'account-ids': ['1234'] } })).toEqual(['ecr.account-ids[0]: expected a 12-digit AWS account id; got "1234"']);
    expect(errorsOf({ ecr: { 'assume-role': { 'role-arn': 'push' } } })).toEqual([
      'ecr.assume-role.role-arn: expected a value matching ^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$; got string "push"',
    ]);
    expect(errorsOf({ ecr: { 'assume-role': { 'role-arn': 'arn:aws:iam::210987654321:role/x', 'duration-seconds': 60 } } })).toHaveLength(1);
  });

  test('a login needs exactly one password source and a registry host', () => {
    expect(
      errorsOf({
        login: [
          { registry: 'ghcr.io', username: 'u' },
          { registry: 'ghcr.io', username: 'u', 'password-env': 'A', 'password-file': 'b' },
          { registry: 'ghcr.io/acme', username: 'u', 'password-env': 'A' },
          { registry: 'https://quay.io/', username: 'u', 'password-env': 'A' },
          { registry: 'quay.io', username: 'u', 'password-env': 'B' },
        ],
      }),
    ).toEqual([
      'login[0]: give exactly one of password-env or password-file for ghcr.io',
      'login[1]: give exactly one of password-env or password-file for ghcr.io (got both)',
      'login[2].registry: expected a registry host such as registry.example.com or ghcr.io; got "ghcr.io/acme"',
      'login[4]: quay.io is listed twice',
    ]);
    expect(errorsOf({ login: [{ registry: 'ghcr.io', username: 'u', password: 'hunter2' }] })).toEqual([
      'login[0].password: unknown option; expected one of: registry, username, password-env, password-file',
    ]);
  });
});

describe("the job's own Docker config", () => {
  const plan = {
    ecr: [{ host: ecrHost, registryId: '123456789012', region: 'us-east-1' }],
    ecrPublic: true,
    static: [{ registry: 'docker.io', username: 'u', passwordEnv: 'P' }],
  };

  function userConfig(): string {
    const dir = scratchDir('docker-config-user-');
    const config = {
      auths: { [ecrHost]: { auth: 'b2xkOm9sZA==' }, 'ghcr.io': { auth: 'a2VlcDptZQ==' } },
      credHelpers: { [ecrHost]: 'ecr-login', 'gcr.io': 'gcloud' },
      credsStore: 'desktop',
      currentContext: 'remote',
    };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    mkdirSync(join(dir, 'cli-plugins'));
    mkdirSync(join(dir, 'contexts'));
    return dir;
  }

  test('our helper for our hosts (an inherited helper or auth would win over it); the rest kept; the user config untouched', () => {
    const user = userConfig();
    const before = readFileSync(join(user, 'config.json'));
    const stateDir = scratchDir('state-');
    const dir = createDockerConfig(stateDir, plan, { DOCKER_CONFIG: user });
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))).toEqual({
      auths: { 'ghcr.io': { auth: 'a2VlcDptZQ==' } },
      credHelpers: { [ecrHost]: 'buildkit', 'gcr.io': 'gcloud', 'public.ecr.aws': 'buildkit', 'https://index.docker.io/v1/': 'buildkit' },
      credsStore: 'desktop',
      currentContext: 'remote',
    });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'config.json')).mode & 0o777).toBe(0o600);
    expect(lstatSync(join(dir, 'cli-plugins')).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(dir, 'contexts')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(user, 'config.json'))).toEqual(before);
  });

  test('without a user config (or with a broken one) it starts empty', async () => {
    const stateDir = scratchDir('state-');
    const dir = createDockerConfig(stateDir, plan, { HOME: scratchDir('home-') });
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).credHelpers).toEqual({
      [ecrHost]: 'buildkit',
      'public.ecr.aws': 'buildkit',
      'https://index.docker.io/v1/': 'buildkit',
    });
    const broken = scratchDir('broken-');
    writeFileSync(join(broken, 'config.json'), '{not json');
    const { log } = await captureLog(async () => createDockerConfig(scratchDir('state-'), plan, { DOCKER_CONFIG: broken }));
    expect(log).toContain(`buildkit: warning: ${broken}/config.json is not valid JSON (Docker refuses it too); the job's own Docker config starts empty`);
  });

  test('the exports: DOCKER_CONFIG, what it was, the helper on PATH once, the Node.js to run it', () => {
    const stateDir = scratchDir('state-');
    const env = { DOCKER_CONFIG: '/tmp/stack-config', PATH: '/usr/bin' };
    const exports = jobDockerConfig(stateDir, plan, env, '/plugin');
    expect(exports).toEqual({
      DOCKER_CONFIG: `${stateDir}/docker-config`,
      BUILDKIT_PLUGIN_DOCKER_CONFIG: `${stateDir}/docker-config`,
      BUILDKIT_PLUGIN_DOCKER_CONFIG_BEFORE: '/tmp/stack-config',
      BUILDKIT_PLUGIN_NODE: process.execPath,
      PATH: '/plugin/bin:/usr/bin',
    });
    // Again, from a job already pointed at it (the command hook after the environment hook).
    expect(jobDockerConfig(stateDir, plan, { ...env, ...exports }, '/plugin')).toEqual(exports);
  });
});

describe('the credential helper and its store', () => {
  test('a token is refreshed 5 minutes before it expires, or at half the life of a short one', () => {
    const issuedAt = 0;
    const twelveHours = { username: 'AWS', secret: 's', issuedAt, expiresAt: 12 * 3600_000 };
    expect(needsRefresh(twelveHours, 12 * 3600_000 - 6 * 60_000)).toBe(false);
    expect(needsRefresh(twelveHours, 12 * 3600_000 - 4 * 60_000)).toBe(true);
    const short = { username: 'AWS', secret: 's', issuedAt, expiresAt: 10_000 };
    expect(needsRefresh(short, 4_000)).toBe(false);
    expect(needsRefresh(short, 6_000)).toBe(true);
    expect(needsRefresh({ username: 'u', secret: 'p' }, Number.MAX_SAFE_INTEGER)).toBe(false);
  });

  test('get answers as docker-credential-helpers do; unknown hosts are "not found"; store and erase are refused', async () => {
    const dir = scratchDir('helper-');
    writeCredentials(dir, { 'ghcr.io': { username: 'u', secret: 'p' }, 'https://index.docker.io/v1/': { username: 'hub', secret: 'h' } });
    const env = { DOCKER_CONFIG: dir };
    expect(await credentialHelper('get', 'ghcr.io\n', env)).toEqual({ code: 0, out: '{"ServerURL":"ghcr.io","Username":"u","Secret":"p"}' });
    expect(await credentialHelper('get', 'https://ghcr.io/v2/', env)).toEqual({
      code: 0,
      out: '{"ServerURL":"https://ghcr.io/v2/","Username":"u","Secret":"p"}',
    });
    expect((await credentialHelper('get', 'https://index.docker.io/v1/', env)).out).toContain('"Username":"hub"');
    expect(await credentialHelper('get', 'quay.io', env)).toEqual({ code: 1, out: 'credentials not found in native keychain' });
    expect(await credentialHelper('list', '', env)).toEqual({ code: 0, out: '{"ghcr.io":"u","https://index.docker.io/v1/":"hub"}' });
    expect(await credentialHelper('store', '{}', env)).toEqual({
      code: 1,
      out: "docker-credential-buildkit: store: the buildkit plugin manages this job's registry logins",
    });
    expect(statSync(join(dir, 'buildkit-credentials.json')).mode & 0o777).toBe(0o600);
  });
});

describe('logIn in the command hook: login passwords', () => {
  const plan = (static_: Array<{ registry: string; username: string; passwordEnv?: string; passwordFile?: string }>) => ({
    ecr: [],
    ecrPublic: false,
    static: static_,
  });

  test('passwords from a job variable or a file reach the helper store and the redactor, never the log', async () => {
    const stateDir = scratchDir('state-');
    const checkout = scratchDir('checkout-');
    writeFileSync(join(checkout, 'quay-password'), 'file-password\n');
    const fake = fakeRuntime();
    const env = { HOME: scratchDir('home-'), BUILDKITE_BUILD_CHECKOUT_PATH: checkout, GHCR_TOKEN: 'env-password' };
    const logins = plan([
      { registry: 'ghcr.io', username: 'bot', passwordEnv: 'GHCR_TOKEN' },
      { registry: 'quay.io', username: 'robot', passwordFile: 'quay-password' },
    ]);
    createDockerConfig(stateDir, logins, env);
    const { log } = await captureLog(() => logIn(logins, env, stateDir, fake.runtime));
    expect(readCredentials(join(stateDir, 'docker-config'))).toEqual({
      'ghcr.io': { username: 'bot', secret: 'env-password' },
      'quay.io': { username: 'robot', secret: 'file-password' },
    });
    expect(fake.redacted.sort()).toEqual(['env-password', 'file-password']);
    expect(log).toContain('buildkit: logged in to ghcr.io, quay.io');
    expect(log).not.toContain('password');
  });

  test('every missing password is named by registry and source, and nothing is written', async () => {
    const stateDir = scratchDir('state-');
    const fake = fakeRuntime();
    await expect(
      logIn(
        plan([
          { registry: 'ghcr.io', username: 'bot', passwordEnv: 'GHCR_TOKEN' },
          { registry: 'quay.io', username: 'robot', passwordFile: '/nonexistent/quay' },
        ]),
        { HOME: scratchDir('home-') },
        stateDir,
        fake.runtime,
      ),
    ).rejects.toMatchObject({
      message: 'a registry password is missing:',
      details: ['login[0] (ghcr.io): the job variable GHCR_TOKEN is not set', 'login[1] (quay.io): the password file /nonexistent/quay does not exist'],
    });
    expect(existsSync(join(stateDir, 'docker-config', 'buildkit-credentials.json'))).toBe(false);
  });
});

describe('AWS details', () => {
  test('the session name leads back to the job, within STS limits', () => {
    expect(sessionName({ BUILDKITE_PIPELINE_SLUG: 'my app', BUILDKITE_BUILD_NUMBER: '42', BUILDKITE_JOB_ID: 'abc' })).toBe('buildkite-my-app-42-abc');
    expect(sessionName({ BUILDKITE_PIPELINE_SLUG: 'x'.repeat(80), BUILDKITE_JOB_ID: 'abc' })).toHaveLength(64);
  });

  test('the credential source is named as the default chain would find it', () => {
    expect(credentialSource(undefined, {})).toBe("the instance role (the agent's EC2 instance profile)");
    expect(credentialSource(undefined, { AWS_ACCESS_KEY_ID: 'AKID' })).toBe('the environment credentials (AWS_ACCESS_KEY_ID)');
    expect(credentialSource(undefined, { AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://x' })).toBe(
      'the container credentials (EKS Pod Identity or ECS task role)',
    );
    expect(credentialSource({ roleArn: 'arn:aws:iam::1:role/r', oidc: true }, {})).toBe('assume-role arn:aws:iam::1:role/r with the job OIDC token');
  });
});

describe('registry refusals, explained', () => {
  test('a push to an immutable tag says why in plain words', async () => {
    const tail = [
      'ERROR: failed to solve: failed to push 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1: unexpected status from PUT request: 400 Bad Request',
      "tag invalid: The image tag '1' already exists in the 'app' repository and cannot be overwritten because the repository is immutable.",
    ];
    const fake = fakeRuntime((argv) => (argv.includes('build') ? { code: 1, tail } : undefined));
    const job = await commandHook({ image: 'r/app', push: true, ecr: false }, fake);
    expect(job.code).toBe(1);
    expect(job.log).toContain('buildkit: error: the ECR repository has immutable tags and this tag is already there');
    expect(job.annotations[0]?.body).toContain('Push a tag that is new for every build');
  });
});

test('the AWS SDK is in dist/ecr.js alone: the hooks load it only for a job that logs in to ECR', () => {
  const dist = join(__dirname, '..', '..', 'dist');
  for (const bundle of ['environment.js', 'command.js', 'pre-exit.js', 'credential-helper.js']) {
    expect(readFileSync(join(dist, bundle), 'utf8')).not.toContain('AmazonEC2ContainerRegistry_V20150921');
  }
  expect(readFileSync(join(dist, 'ecr.js'), 'utf8')).toContain('AmazonEC2ContainerRegistry_V20150921');
  expect(readFileSync(join(dist, 'command.js'), 'utf8')).toContain('import("./ecr.js")');
});

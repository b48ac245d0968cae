import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon, describeWithBuildkitd, startBuildkitd, withBuildctl } from './buildkitd';
import { EcrEndpoint, startEcrEndpoint } from './ecr-endpoint';
import { EcrRegistry, describeWithEcrRegistry, ecrHost, ecrManifest, startEcrRegistry } from './ecr-registry';
import { defined } from '../support/defined';
import { StepRun, checkout, expectSuccess, runPipelineStep, scratchDir, sha256 } from './support';

jest.setTimeout(120_000);

/** The step command records the Docker config it was given and its environment. */
const recordEnv = 'printf "%s" "$$DOCKER_CONFIG" > docker-config-used && env > step-env';

describeWithEcrRegistry('Amazon ECR login: the real AWS SDK, a local ECR/STS endpoint, a TLS registry with ECR credentials', () => {
  let endpoint: EcrEndpoint;
  let registry: EcrRegistry;
  let home: string;
  let userConfig: Buffer;

  beforeAll(async () => {
    endpoint = await startEcrEndpoint();
    registry = await startEcrRegistry('not-a-token-yet');
    endpoint.onToken = (token, service) => {
      if (service === 'ecr') registry.setPassword(token);
    };
    // A user config whose inherited helper for the ECR host would win over any auths entry,
    // and would fail: docker-credential-ecr-login is not installed here.
    home = scratchDir('buildkit-e2e-home-');
    mkdirSync(join(home, '.docker'));
    writeFileSync(join(home, '.docker', 'config.json'), JSON.stringify({ credHelpers: { [ecrHost]: 'ecr-login' }, auths: { 'ghcr.io': { auth: 'dTpw' } } }));
    userConfig = readFileSync(join(home, '.docker', 'config.json'));
  });
  afterAll(async () => {
    await registry?.stop();
    await endpoint?.stop();
  });

  /** The agent's environment: static test keys, the SDK pointed at the local endpoint. */
  const agentEnv = (extra: Record<string, string> = {}) => ({
    HOME: home,
    AWS_ACCESS_KEY_ID: 'AKIDAGENT',
    AWS_SECRET_ACCESS_KEY: 'agent-secret',
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_ECR: endpoint.url,
    AWS_ENDPOINT_URL_ECR_PUBLIC: endpoint.url,
    AWS_ENDPOINT_URL_STS: endpoint.url,
    ...extra,
  });
  const push = (repo: string, extra: Record<string, unknown> = {}) => ({
    image: `${ecrHost}/${repo}`,
    tags: ['1'],
    push: true,
    target: 'runtime',
    network: 'none',
    ...extra,
  });
  const latestToken = () => endpoint.tokens[endpoint.tokens.length - 1] ?? '';

  /** Pushed where the registry shows it; no token in the log; nothing left; the user's config untouched. */
  async function expectPushedCleanly(run: StepRun, dir: string, repo: string, key: string): Promise<void> {
    expectSuccess(run);
    const digest = run.result.metaData[`buildkit.${key}.digest`];
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await ecrManifest(repo, '1', latestToken())).toBe(digest);
    for (const token of endpoint.tokens) expect(run.output).not.toContain(token);
    expect(run.result.redactions).toEqual(expect.arrayContaining([sha256(latestToken())]));
    const used = readFileSync(join(dir, 'docker-config-used'), 'utf8');
    expect(used).toMatch(/\/buildkite-plugin-buildkit-\d+\/[^/]+\/docker-config$/);
    expect(existsSync(used)).toBe(false);
    const stateRoot = readdirSync(dir).find((name) => name.startsWith('buildkite-plugin-buildkit-'));
    expect(stateRoot && readdirSync(join(dir, stateRoot))).toEqual([]);
    expect(readFileSync(join(home, '.docker', 'config.json'))).toEqual(userConfig);
  }

  test('the plugin logs in with the agent credentials and the push succeeds; the token is nowhere after pre-exit', async () => {
    const dir = checkout();
    const calls = endpoint.calls.length;
    const run = await runPipelineStep(dir, { key: 'ecr', command: recordEnv, config: push('e2e/login') }, { processEnv: agentEnv() });
    await expectPushedCleanly(run, dir, 'e2e/login', 'ecr');
    const ecrCalls = endpoint.calls.slice(calls).filter((call) => call.service === 'ecr');
    expect(ecrCalls.map((call) => [call.action, call.accessKeyId, call.status])).toEqual([['GetAuthorizationToken', 'AKIDAGENT', 200]]);
    expect(run.output).toContain(`buildkit: logged in to ${ecrHost}`);
  });

  test('without the plugin login (ecr: false) the same push is refused, and the log says why', async () => {
    const dir = checkout();
    const run = await runPipelineStep(
      dir,
      { key: 'nologin', config: push('e2e/nologin', { ecr: false }) },
      { processEnv: agentEnv({ HOME: scratchDir('home-') }) },
    );
    expect(run.code).not.toBe(0);
    expect(run.output).toMatch(/401 Unauthorized/);
    expect(run.output).toContain('buildkit: error: the registry refused the credentials (401)');
  });

  test('throttled twice, the login is retried to success', async () => {
    const dir = checkout();
    const calls = endpoint.calls.length;
    endpoint.throttleNext(2, 'ecr');
    const run = await runPipelineStep(dir, { key: 'throttled', command: recordEnv, config: push('e2e/throttled') }, { processEnv: agentEnv() });
    await expectPushedCleanly(run, dir, 'e2e/throttled', 'throttled');
    expect(endpoint.calls.slice(calls).map((call) => call.status)).toEqual([400, 400, 200]);
  });

  test('access denied fails before the build, naming the registry, the credential source and the AWS error', async () => {
    const dir = checkout();
    endpoint.failNext('ecr', 'AccessDeniedException', 'not authorized to perform ecr:GetAuthorizationToken');
    const run = await runPipelineStep(dir, { key: 'denied', command: 'touch ran', config: push('e2e/denied') }, { processEnv: agentEnv() });
    expect(run.code).toBe(1);
    expect(run.output).toContain(
      `buildkit: error: ecr: cannot log in to ${ecrHost} with the environment credentials (AWS_ACCESS_KEY_ID): AccessDeniedException: not authorized to perform ecr:GetAuthorizationToken`,
    );
    expect(run.output).not.toContain('docker buildx build');
    expect(existsSync(join(dir, 'ran'))).toBe(false);
  });

  test('a token that expires during a slow build is renewed through the credential helper, and the push succeeds', async () => {
    const dir = checkout();
    const issued = endpoint.tokens.length;
    endpoint.tokenLifetimeSeconds = 6;
    try {
      const run = await runPipelineStep(
        dir,
        { key: 'slow', command: recordEnv, config: push('e2e/slow', { target: 'pause', 'build-args': ['PAUSE=9'] }) },
        { processEnv: agentEnv() },
      );
      await expectPushedCleanly(run, dir, 'e2e/slow', 'slow');
      // One token at login, a fresh one from the helper at push time (the first was refused by then).
      expect(endpoint.tokens.length - issued).toBeGreaterThanOrEqual(2);
      expect(run.result.redactions).toEqual(expect.arrayContaining(endpoint.tokens.slice(issued).map(sha256)));
    } finally {
      endpoint.tokenLifetimeSeconds = 12 * 3600;
    }
  });

  test('assume-role: STS AssumeRole with a session name from the job, the ECR call signed with the role; the role never reaches the job', async () => {
    const dir = checkout();
    const calls = endpoint.calls.length;
    const roleArn = 'arn:aws:iam::123456789012:role/buildkite-push';
    const run = await runPipelineStep(
      dir,
      { key: 'role', command: recordEnv, config: push('e2e/role', { ecr: { 'assume-role': { 'role-arn': roleArn } } }) },
      { processEnv: agentEnv(), env: { BUILDKITE_PIPELINE_SLUG: 'app', BUILDKITE_BUILD_NUMBER: '7', BUILDKITE_JOB_ID: 'job-role' } },
    );
    await expectPushedCleanly(run, dir, 'e2e/role', 'role');
    const [assume, token] = endpoint.calls.slice(calls);
    expect(assume).toMatchObject({
      service: 'sts',
      action: 'AssumeRole',
      accessKeyId: 'AKIDAGENT',
      params: { RoleArn: roleArn, RoleSessionName: 'buildkite-app-7-job-role' },
    });
    const assumed = defined(endpoint.assumed[endpoint.assumed.length - 1], 'the credentials STS handed out');
    expect(token).toMatchObject({ service: 'ecr', action: 'GetAuthorizationToken', accessKeyId: assumed.accessKeyId });
    const stepEnv = readFileSync(join(dir, 'step-env'), 'utf8');
    expect(stepEnv).not.toContain(assumed.accessKeyId);
    expect(stepEnv).not.toContain(assumed.sessionToken);
  });

  test("assume-role with oidc: the job's OIDC token for sts.amazonaws.com goes to AssumeRoleWithWebIdentity", async () => {
    const dir = checkout();
    const calls = endpoint.calls.length;
    const roleArn = 'arn:aws:iam::123456789012:role/buildkite-oidc';
    const run = await runPipelineStep(
      dir,
      { key: 'oidc', command: recordEnv, config: push('e2e/oidc', { ecr: { 'assume-role': { 'role-arn': roleArn, oidc: true } } }) },
      { processEnv: agentEnv(), env: { BUILDKITE_JOB_ID: 'job-oidc' } },
    );
    await expectPushedCleanly(run, dir, 'e2e/oidc', 'oidc');
    const [assume] = endpoint.calls.slice(calls);
    const webIdentityToken = `stand-in-oidc.${Buffer.from('sts.amazonaws.com').toString('base64')}.job-oidc`;
    expect(assume).toMatchObject({ service: 'sts', action: 'AssumeRoleWithWebIdentity', params: { RoleArn: roleArn, WebIdentityToken: webIdentityToken } });
    expect(run.output).not.toContain(webIdentityToken);
    expect(run.result.redactions).toEqual(expect.arrayContaining([sha256(webIdentityToken)]));
  });

  test('login: a password from a job variable logs in to another registry; it goes to the helper, not argv or the log', async () => {
    const dir = checkout();
    const password = latestToken();
    const run = await runPipelineStep(
      dir,
      {
        key: 'static',
        command: recordEnv,
        config: push('e2e/static', { ecr: false, login: [{ registry: ecrHost, username: 'AWS', 'password-env': 'REGISTRY_PASSWORD' }] }),
      },
      { processEnv: agentEnv(), env: { REGISTRY_PASSWORD: password } },
    );
    await expectPushedCleanly(run, dir, 'e2e/static', 'static');
    expect(run.result.redactions).toContain(sha256(password));
  });

  describeWithBuildkitd('on a remote buildkitd through buildctl', () => {
    let daemon: Daemon;
    beforeAll(async () => {
      daemon = await startBuildkitd(undefined, { registryCa: { host: ecrHost, caFile: registry.caFile } });
    });

    test('buildctl reads the job Docker config on the agent and pushes with the plugin login', async () => {
      const dir = checkout();
      const run = await runPipelineStep(
        dir,
        { key: 'bcecr', command: recordEnv, config: push('e2e/buildctl', { builder: { endpoint: daemon.address, client: 'buildctl' } }) },
        { processEnv: { ...agentEnv(), ...withBuildctl() } },
      );
      await expectPushedCleanly(run, dir, 'e2e/buildctl', 'bcecr');
      expect(run.output).toContain('engine buildctl-remote');
    });
  });
});

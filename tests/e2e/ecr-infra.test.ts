import { DescribeRepositoriesCommand, ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { ECRPUBLICClient, GetAuthorizationTokenCommand as GetPublicAuthorizationTokenCommand } from '@aws-sdk/client-ecr-public';
import { AssumeRoleCommand, AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildkitBinDir, daemonless, describeWithBuildkitd, startBuildkitd, withBuildctl } from './buildkitd';
import { EcrEndpoint, startEcrEndpoint } from './ecr-endpoint';
import { EcrRegistry, describeWithEcrRegistry, dockerConfigWithAuth, ecrHost, ecrManifest, ecrRegistryUnavailable, startEcrRegistry } from './ecr-registry';
import { checkout, root, scratchDir, testRegistry } from './support';

jest.setTimeout(120_000);

/** Runs a command to its end; its exit code and its stdout and stderr together. */
function run(command: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: { ...process.env, ...env } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', (err) => (output += String(err)));
    child.on('close', (code) => resolve({ code: code ?? -1, output }));
  });
}

function expectExit0(result: { code: number; output: string }): void {
  if (result.code !== 0) throw new Error(`exited ${result.code}:\n${result.output}`);
}

type Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };

/** A registry token (the password) from the real ECR client, with the environment's or the given credentials. */
async function ecrToken(credentials?: Credentials): Promise<string> {
  const out = await new ECRClient({ region: 'us-east-1', credentials }).send(new GetAuthorizationTokenCommand({}));
  const data = out.authorizationData?.[0];
  expect(data?.proxyEndpoint).toBe(`https://${ecrHost}`);
  return Buffer.from(data?.authorizationToken ?? '', 'base64')
    .toString('utf8')
    .replace(/^AWS:/, '');
}

const hostsLine = `127.0.0.1 ${ecrHost}`;
const certsDir = `/etc/docker/certs.d/${ecrHost}`;

describeWithEcrRegistry('ECR stand-ins: the API endpoint with the real AWS SDK, and a TLS registry under an ECR host name', () => {
  let endpoint: EcrEndpoint;
  let registry: EcrRegistry;
  let hostsBefore: string;
  let certsParentBefore: boolean;
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    testRegistry(); // only under scripts/with-engine.sh: the pushes need its engine
    hostsBefore = readFileSync('/etc/hosts', 'utf8');
    certsParentBefore = existsSync('/etc/docker/certs.d');
    endpoint = await startEcrEndpoint();
    registry = await startEcrRegistry('no-token-yet');
    endpoint.onToken = (token, service) => service === 'ecr' && registry.setPassword(token);
    for (const name of Object.keys(process.env)) if (name.startsWith('AWS_')) delete process.env[name];
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_ECR: endpoint.url,
      AWS_ENDPOINT_URL_ECR_PUBLIC: endpoint.url,
      AWS_ENDPOINT_URL_STS: endpoint.url,
      AWS_ACCESS_KEY_ID: 'AKIDTEST',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_MAX_ATTEMPTS: '3',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      AWS_EC2_METADATA_DISABLED: 'true',
    });
  });
  afterAll(async () => {
    process.env = savedEnv;
    await registry?.stop();
    await endpoint?.stop();
  });

  test('a token from the real ECRClient pushes with docker buildx; without credentials the push gets 401', async () => {
    const token = await ecrToken();
    expect(endpoint.tokens.at(-1)).toBe(token);
    expect(endpoint.calls.at(-1)).toMatchObject({ service: 'ecr', action: 'GetAuthorizationToken', accessKeyId: 'AKIDTEST', status: 200 });
    const dir = checkout();
    const build = (tag: string, config: string) =>
      run(
        'docker',
        ['buildx', 'build', '--progress', 'plain', '--push', '--target', 'runtime', '--network', 'none', '-t', `${ecrHost}/infra/app:${tag}`, dir],
        {
          DOCKER_CONFIG: config,
        },
      );

    expectExit0(await build('1', dockerConfigWithAuth(scratchDir('ecr-docker-config-'), token)));
    expect(await ecrManifest('infra/app', '1', token)).toMatch(/^sha256:[0-9a-f]{64}$/);

    const denied = await build('2', scratchDir('ecr-docker-config-empty-'));
    expect(denied.code).not.toBe(0);
    expect(denied.output).toMatch(/401|unauthorized/i);
    expect(await ecrManifest('infra/app', '2', token)).toBeUndefined();
  });

  test('a new password replaces the old one at once: set directly, and through a new token from the endpoint', async () => {
    const old = endpoint.tokens.at(-1) ?? '';
    registry.setPassword('rotated-by-the-test');
    await expect(ecrManifest('infra/app', '1', old)).rejects.toThrow(/401/);
    expect(await ecrManifest('infra/app', '1', 'rotated-by-the-test')).toMatch(/^sha256:/);

    const fresh = await ecrToken();
    expect(fresh).not.toBe(old);
    await expect(ecrManifest('infra/app', '1', 'rotated-by-the-test')).rejects.toThrow(/401/);
    expect(await ecrManifest('infra/app', '1', fresh)).toMatch(/^sha256:/);
  });

  test('throttling: the SDK retries twice and gets its token on the third attempt', async () => {
    const before = endpoint.calls.length;
    endpoint.throttleNext(2, 'ecr');
    const token = await ecrToken();
    const attempts = endpoint.calls.slice(before);
    expect(attempts.map((call) => `${call.action} ${call.status}`)).toEqual([
      'GetAuthorizationToken 400',
      'GetAuthorizationToken 400',
      'GetAuthorizationToken 200',
    ]);
    expect(endpoint.tokens.at(-1)).toBe(token);
  });

  test('failNext and unknown operations: AWS errors the SDK names, not retried', async () => {
    const ecr = new ECRClient({ region: 'us-east-1' });
    const before = endpoint.calls.length;
    endpoint.failNext('ecr', 'AccessDeniedException', 'not allowed');
    await expect(ecr.send(new GetAuthorizationTokenCommand({}))).rejects.toMatchObject({ name: 'AccessDeniedException', message: 'not allowed' });
    await expect(ecr.send(new DescribeRepositoriesCommand({}))).rejects.toMatchObject({ name: 'UnknownOperationException' });
    endpoint.failNext('sts', 'AccessDenied');
    await expect(
      new STSClient({ region: 'us-east-1' }).send(new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::1:role/x', RoleSessionName: 's' })),
    ).rejects.toMatchObject({
      name: 'AccessDenied',
      $metadata: { httpStatusCode: 403 },
    });
    expect(endpoint.calls.slice(before).map((call) => `${call.service} ${call.action} ${call.status}`)).toEqual([
      'ecr GetAuthorizationToken 400',
      'ecr unknown 400',
      'sts AssumeRole 403',
    ]);
  });

  test('STS AssumeRole and AssumeRoleWithWebIdentity through the real STSClient; ECR calls signed with the assumed keys', async () => {
    const sts = new STSClient({ region: 'us-east-1' });
    const roleArn = 'arn:aws:iam::123456789012:role/buildkite-ecr';
    const assumed = await sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'buildkite-job', DurationSeconds: 900 }));
    expect(assumed.AssumedRoleUser?.Arn).toBe('arn:aws:sts::123456789012:assumed-role/buildkite-ecr/buildkite-job');
    expect(assumed.Credentials?.Expiration?.getTime()).toBeGreaterThan(Date.now() + 800_000);
    expect(endpoint.calls.at(-1)).toMatchObject({
      service: 'sts',
      action: 'AssumeRole',
      accessKeyId: 'AKIDTEST',
      params: { RoleArn: roleArn, DurationSeconds: '900' },
    });

    const claims = Buffer.from(JSON.stringify({ sub: 'organization:acme:pipeline:app:ref:refs/heads/main' })).toString('base64url');
    const web = await sts.send(new AssumeRoleWithWebIdentityCommand({ RoleArn: roleArn, RoleSessionName: 'oidc', WebIdentityToken: `e30.${claims}.sig` }));
    expect(web.SubjectFromWebIdentityToken).toBe('organization:acme:pipeline:app:ref:refs/heads/main');
    expect(endpoint.calls.at(-1)).toMatchObject({ service: 'sts', action: 'AssumeRoleWithWebIdentity', params: { WebIdentityToken: `e30.${claims}.sig` } });

    const keys = [assumed.Credentials, web.Credentials].map((c) => ({
      accessKeyId: c?.AccessKeyId ?? '',
      secretAccessKey: c?.SecretAccessKey ?? '',
      sessionToken: c?.SessionToken ?? '',
    }));
    expect(keys.map((k) => k.accessKeyId)).toEqual(endpoint.assumed.slice(-2).map((a) => a.accessKeyId));
    expect(new Set(keys.map((k) => k.accessKeyId)).size).toBe(2);
    for (const credentials of keys) {
      expect(credentials.accessKeyId).toMatch(/^ASIA[0-9A-F]{16}$/);
      const token = await ecrToken(credentials);
      expect(endpoint.calls.at(-1)).toMatchObject({ service: 'ecr', accessKeyId: credentials.accessKeyId, securityToken: credentials.sessionToken });
      expect(await ecrManifest('infra/app', '1', token)).toMatch(/^sha256:/);
    }
  });

  test('ECR Public: a token through the real ECRPUBLICClient, which leaves the private registry password alone', async () => {
    const privateToken = endpoint.tokens.at(-1) ?? '';
    const out = await new ECRPUBLICClient({ region: 'us-east-1' }).send(new GetPublicAuthorizationTokenCommand({}));
    const token = Buffer.from(out.authorizationData?.authorizationToken ?? '', 'base64').toString('utf8');
    expect(token).toBe(`AWS:${endpoint.tokens.at(-1)}`);
    expect(out.authorizationData?.expiresAt?.getTime()).toBeGreaterThan(Date.now() + 11 * 3600_000);
    expect(endpoint.calls.at(-1)).toMatchObject({ service: 'ecr-public', action: 'GetAuthorizationToken', accessKeyId: 'AKIDTEST' });
    expect(await ecrManifest('infra/app', '1', privateToken)).toMatch(/^sha256:/);
  });

  describeWithBuildkitd('buildctl against a buildkitd trusting the registry CA', () => {
    const bin = (name: string) => join(buildkitBinDir ?? '', name);
    const buildArgs = (dir: string, name: string) => {
      const locals = ['--local', `context=${dir}`, '--local', `dockerfile=${dir}`];
      const opts = ['--opt', 'target=runtime', '--opt', 'force-network-mode=none'];
      return ['build', '--frontend', 'dockerfile.v0', ...locals, ...opts, '--output', `type=image,name=${ecrHost}/${name},push=true`];
    };

    test('a remote buildkitd started with registryCa pushes with the DOCKER_CONFIG credentials; without it, TLS fails', async () => {
      const token = await ecrToken();
      const config = dockerConfigWithAuth(scratchDir('ecr-docker-config-'), token);
      const dir = checkout();

      const trusting = await startBuildkitd(undefined, { registryCa: { host: ecrHost, caFile: registry.caFile } });
      expectExit0(await run(bin('buildctl'), ['--addr', trusting.address, ...buildArgs(dir, 'infra/bc:1')], { DOCKER_CONFIG: config }));
      expect(await ecrManifest('infra/bc', '1', token)).toMatch(/^sha256:/);
      await trusting.stop();

      const plain = await startBuildkitd();
      const refused = await run(bin('buildctl'), ['--addr', plain.address, ...buildArgs(dir, 'infra/bc:2')], { DOCKER_CONFIG: config });
      expect(refused.code).not.toBe(0);
      expect(refused.output).toMatch(/x509|certificate/);
      await plain.stop();
    });

    test('buildctl-daemonless.sh with the buildkitd-flags of daemonless(root, ca) pushes too', async () => {
      const token = await ecrToken();
      const flags = daemonless(scratchDir('ecr-daemonless-'), { host: ecrHost, caFile: registry.caFile })['buildkitd-flags'] ?? '';
      expect(flags).toMatch(/^--config \S+buildkitd\.toml --root /);
      const env = { DOCKER_CONFIG: dockerConfigWithAuth(scratchDir('ecr-docker-config-'), token), BUILDKITD_FLAGS: flags, ...withBuildctl() };
      expectExit0(await run(bin('buildctl-daemonless.sh'), buildArgs(checkout(), 'infra/daemonless:1'), env));
      expect(await ecrManifest('infra/daemonless', '1', token)).toMatch(/^sha256:/);
    });
  });

  test('stop() puts /etc/hosts and /etc/docker/certs.d back as they were', async () => {
    expect(readFileSync('/etc/hosts', 'utf8').split('\n')).toContain(hostsLine);
    expect(existsSync(join(certsDir, 'ca.crt'))).toBe(true);
    await registry.stop();
    expect(readFileSync('/etc/hosts', 'utf8')).toBe(hostsBefore);
    expect(existsSync(certsDir)).toBe(false);
    expect(existsSync('/etc/docker/certs.d')).toBe(certsParentBefore);
    expect(ecrRegistryUnavailable()).toBeUndefined(); // port 443 is free again
  });

  test('a process that dies (SIGKILL) with the registry running: its guard cleans up all the same', async () => {
    const bundle = join(scratchDir('ecr-registry-bundle-'), 'ecr-registry.js');
    expectExit0(
      await run(join(root, 'node_modules', '.bin', 'esbuild'), [join(__dirname, 'ecr-registry.ts'), '--bundle', '--platform=node', `--outfile=${bundle}`]),
    );
    const script = `require(${JSON.stringify(bundle)}).startEcrRegistry('t').then(() => { console.log('up'); process.kill(process.pid, 'SIGKILL'); })`;
    const killed = await run(process.execPath, ['-e', script]);
    expect(killed.output).toContain('up');
    for (let i = 0; i < 100 && ecrRegistryUnavailable() !== undefined; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(ecrRegistryUnavailable()).toBeUndefined();
    expect(readFileSync('/etc/hosts', 'utf8')).toBe(hostsBefore);
    expect(existsSync('/etc/docker/certs.d')).toBe(certsParentBefore);
  });
});

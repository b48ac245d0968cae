import { createHash } from 'node:crypto';
import { EcrEndpoint, startEcrEndpoint } from '../e2e/ecr-endpoint';
import { EcrScanRepository } from '../../src/plan/scan-plan';
import { EcrScanError, EcrScanOptions, scanEcrImage } from '../../src/registry/ecr-scan';

/** scanEcrImage with the real AWS SDK against the local ECR endpoint; sleeps only move a clock. */

const host = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
const target: EcrScanRepository = { registry: { host, registryId: '123456789012', region: 'us-east-1' }, repository: 'team/app' };
const ociManifest = 'application/vnd.oci.image.manifest.v1+json';
const ociIndex = 'application/vnd.oci.image.index.v1+json';
const digestOf = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;

let endpoint: EcrEndpoint;
let awsEnv: Record<string, string>;
const saved = { ...process.env };
beforeAll(async () => {
  endpoint = await startEcrEndpoint();
  // The SDK reads its credentials and endpoints from the process environment, as in the hook.
  awsEnv = {
    AWS_ACCESS_KEY_ID: 'AKIDSCAN',
    AWS_SECRET_ACCESS_KEY: 'x',
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_ECR: endpoint.url,
    AWS_ENDPOINT_URL_STS: endpoint.url,
  };
  Object.assign(process.env, awsEnv);
});
afterAll(async () => {
  process.env = saved;
  await endpoint.stop();
});

/** A single-platform image in team/app; its digest. */
function pushImage(name: string): string {
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: ociManifest, config: { digest: digestOf(`config ${name}`) }, layers: [] });
  const digest = digestOf(manifest);
  endpoint.images.set(`team/app@${digest}`, { mediaType: ociManifest, manifest });
  return digest;
}

function scanOptions(extra: Partial<EcrScanOptions> = {}) {
  let clock = 1_000_000;
  const sleeps: number[] = [];
  const lines: string[] = [];
  const options: EcrScanOptions = {
    env: awsEnv,
    agent: { oidcToken: async () => ({ token: 'oidc' }) },
    timeoutMs: 600_000,
    now: () => clock,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
    cancelled: () => false,
    log: (line) => lines.push(line),
    ...extra,
  };
  return { options, sleeps, lines };
}

const basic = (name: string, severity: string, pkg = 'openssl', version = '3.0.1') => ({
  name,
  severity,
  uri: `https://security-tracker.debian.org/tracker/${name}`,
  description: `${name} in ${pkg}`,
  attributes: [
    { key: 'package_name', value: pkg },
    { key: 'package_version', value: version },
  ],
});

/** The ECR actions the scan called since `from`, with their status. */
const actionsSince = (from: number) => endpoint.calls.slice(from).map((call) => `${call.action} ${call.status}`);

beforeEach(() => {
  endpoint.scanning.scanType = 'BASIC';
  endpoint.scanning.rules = [];
  endpoint.scanning.pollsUntilComplete = 0;
  endpoint.scanning.pollsWithoutResult = 0;
  endpoint.scanning.autoStart = false;
});

describe('basic scanning', () => {
  test('starts the scan, polls with backoff while it is in progress, and reads findings of every severity', async () => {
    const digest = pushImage('progress');
    const severities = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'INFORMATIONAL', 'UNDEFINED'];
    endpoint.findings.set(
      `team/app@${digest}`,
      severities.map((s, i) => basic(`CVE-2024-000${i}`, s)),
    );
    endpoint.scanning.pollsUntilComplete = 3;
    const from = endpoint.calls.length;
    const { options, sleeps, lines } = scanOptions();
    const scan = await scanEcrImage(target, digest, options);
    expect(scan.scanning).toBe('basic');
    expect(scan.images).toEqual([
      {
        digest,
        findings: severities.map((severity, i) => ({
          id: `CVE-2024-000${i}`,
          severity,
          package: 'openssl',
          installed: '3.0.1',
          url: `https://security-tracker.debian.org/tracker/CVE-2024-000${i}`,
        })),
      },
    ]);
    expect(actionsSince(from)).toEqual([
      'GetRegistryScanningConfiguration 200',
      'BatchGetImage 200',
      'DescribeImageScanFindings 400',
      'StartImageScan 200',
      'DescribeImageScanFindings 200',
      'DescribeImageScanFindings 200',
      'DescribeImageScanFindings 200',
      'DescribeImageScanFindings 200',
    ]);
    expect(endpoint.calls.slice(from).every((call) => call.accessKeyId === 'AKIDSCAN')).toBe(true);
    expect(sleeps).toEqual([1000, 1500, 2250, 3375]);
    expect(lines).toEqual([`scanning ${host}/team/app@${digest} with basic scanning`, 'image: in progress', 'image: the scan is complete: 6 finding(s)']);
  });

  test('every page of findings is read', async () => {
    const digest = pushImage('pages');
    endpoint.findings.set(
      `team/app@${digest}`,
      Array.from({ length: 2345 }, (_, i) => basic(`CVE-2024-${i}`, 'LOW')),
    );
    const scan = await scanEcrImage(target, digest, scanOptions().options);
    expect(scan.images[0]?.findings).toHaveLength(2345);
    expect(new Set(scan.images[0]?.findings.map((f) => f.id)).size).toBe(2345);
  });

  test('scan on push: waits for the scan the push started, even when it shows up late, and never starts one', async () => {
    const digest = pushImage('on-push');
    endpoint.scanning.rules = [{ scanFrequency: 'SCAN_ON_PUSH', repositoryFilters: [{ filter: 'team/*', filterType: 'WILDCARD' }] }];
    endpoint.scanning.pollsUntilComplete = 1;
    const from = endpoint.calls.length;
    // The push's scan appears only after the first poll found none.
    const { options } = scanOptions();
    const sleep = options.sleep;
    options.sleep = async (ms) => {
      if (!endpoint.scans.has(`team/app@${digest}`)) endpoint.startScan('team/app', digest);
      await sleep(ms);
    };
    const scan = await scanEcrImage(target, digest, options);
    expect(scan.images[0]).toMatchObject({ digest, findings: [] });
    expect(actionsSince(from).filter((a) => a.startsWith('StartImageScan'))).toEqual([]);
    expect(actionsSince(from).filter((a) => a.startsWith('DescribeImageScanFindings'))).toEqual([
      'DescribeImageScanFindings 400',
      'DescribeImageScanFindings 200',
      'DescribeImageScanFindings 200',
    ]);
  });

  test('scan on push that never shows up: started after two polls find no scan', async () => {
    const digest = pushImage('on-push-missing');
    endpoint.scanning.rules = [{ scanFrequency: 'SCAN_ON_PUSH', repositoryFilters: [{ filter: '*', filterType: 'WILDCARD' }] }];
    const from = endpoint.calls.length;
    await scanEcrImage(target, digest, scanOptions().options);
    expect(actionsSince(from).slice(2)).toEqual([
      'DescribeImageScanFindings 400',
      'DescribeImageScanFindings 400',
      'StartImageScan 200',
      'DescribeImageScanFindings 200',
    ]);
  });

  test('a rule for other repositories does not count as scan on push', async () => {
    const digest = pushImage('other-rule');
    endpoint.scanning.rules = [{ scanFrequency: 'SCAN_ON_PUSH', repositoryFilters: [{ filter: 'other/*', filterType: 'WILDCARD' }] }];
    const from = endpoint.calls.length;
    await scanEcrImage(target, digest, scanOptions().options);
    expect(actionsSince(from)).toContain('StartImageScan 200');
    expect(actionsSince(from).filter((a) => a.startsWith('DescribeImageScanFindings 400'))).toHaveLength(1);
  });

  test('a scan already done today (LimitExceededException) is read, not an error', async () => {
    const digest = pushImage('limit');
    endpoint.startScan('team/app', digest);
    endpoint.failNext('ecr', 'ScanNotFoundException', 'no scan yet', 'DescribeImageScanFindings');
    const from = endpoint.calls.length;
    const scan = await scanEcrImage(target, digest, scanOptions().options);
    expect(scan.images).toEqual([{ digest, findings: [] }]);
    expect(actionsSince(from)).toContain('StartImageScan 400');
  });

  test('a throttled start is tried again at the next poll', async () => {
    const digest = pushImage('start-throttled');
    endpoint.failNext('ecr', 'ThrottlingException', 'Rate exceeded', 'StartImageScan');
    const from = endpoint.calls.length;
    const scan = await scanEcrImage(target, digest, scanOptions().options);
    expect(scan.images[0]).toEqual({ digest, findings: [] });
    expect(actionsSince(from).slice(2)).toEqual([
      'DescribeImageScanFindings 400',
      'StartImageScan 400',
      'DescribeImageScanFindings 400',
      'StartImageScan 200',
      'DescribeImageScanFindings 200',
    ]);
  });

  test('the timeout: still in progress when it runs out; the last status is named', async () => {
    const digest = pushImage('slow');
    endpoint.scanning.pollsUntilComplete = 1000;
    const { options, sleeps } = scanOptions({ timeoutMs: 20_000 });
    const scan = await scanEcrImage(target, digest, options);
    expect(scan.images[0]?.error).toBe('the scan did not complete within 20 s (scan.timeout); last status IN_PROGRESS');
    expect(sleeps.reduce((a, b) => a + b, 0)).toBe(20_000);
  });

  test('an unsupported image and a failed scan end with ECR’s words', async () => {
    const unsupported = pushImage('unsupported');
    endpoint.finalStatus.set(`team/app@${unsupported}`, {
      status: 'UNSUPPORTED_IMAGE',
      description: 'The operating system and/or package manager are not supported.',
    });
    expect((await scanEcrImage(target, unsupported, scanOptions().options)).images[0]?.error).toMatch(
      /^UnsupportedImageTypeException: The operating system and\/or package manager are not supported\./,
    );
    const failed = pushImage('failed');
    endpoint.finalStatus.set(`team/app@${failed}`, { status: 'FAILED', description: 'Scan failed for internal reasons' });
    expect((await scanEcrImage(target, failed, scanOptions().options)).images[0]?.error).toBe('FAILED: Scan failed for internal reasons');
  });

  test('access denied names the permission and the credentials', async () => {
    const digest = pushImage('denied');
    endpoint.failNext(
      'ecr',
      'AccessDeniedException',
      'User: arn:aws:sts::123456789012:assumed-role/agent is not authorized to perform: ecr:StartImageScan',
      'StartImageScan',
    );
    const scan = await scanEcrImage(target, digest, scanOptions().options);
    expect(scan.images[0]?.error).toBe(
      'AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/agent is not authorized to perform: ecr:StartImageScan ' +
        '(the credentials, the environment credentials (AWS_ACCESS_KEY_ID), need ecr:StartImageScan on the repository)',
    );
  });

  test('without ecr:GetRegistryScanningConfiguration, basic scanning is assumed', async () => {
    const digest = pushImage('no-config');
    endpoint.failNext('ecr', 'AccessDeniedException', 'not authorized', 'GetRegistryScanningConfiguration');
    const { options, lines } = scanOptions();
    const scan = await scanEcrImage(target, digest, options);
    expect(scan).toMatchObject({ scanning: 'basic', images: [{ digest, findings: [] }] });
    expect(lines[0]).toMatch(
      /^cannot read the registry scanning configuration \(AccessDeniedException: not authorized .*\); assuming basic scanning \(an enhanced-scanning registry is found out when StartImageScan is refused\)$/,
    );
  });

  test('throttling is retried by the SDK', async () => {
    const digest = pushImage('throttled');
    endpoint.startScan('team/app', digest);
    endpoint.failNext('ecr', 'ThrottlingException', 'Rate exceeded', 'DescribeImageScanFindings');
    endpoint.failNext('ecr', 'ThrottlingException', 'Rate exceeded', 'DescribeImageScanFindings');
    const from = endpoint.calls.length;
    const scan = await scanEcrImage(target, digest, scanOptions().options);
    expect(scan.images[0]).toEqual({ digest, findings: [] });
    expect(actionsSince(from).filter((a) => a.startsWith('DescribeImageScanFindings'))).toEqual([
      'DescribeImageScanFindings 400',
      'DescribeImageScanFindings 400',
      'DescribeImageScanFindings 200',
    ]);
  });

  test('an image that is not in the repository is an error of the whole scan', async () => {
    await expect(scanEcrImage(target, `sha256:${'0'.repeat(64)}`, scanOptions().options)).rejects.toThrow(
      new EcrScanError(`${host}/team/app@sha256:${'0'.repeat(64)} is not in the repository: ImageNotFound: Requested image not found`),
    );
  });
});

describe('a multi-platform index', () => {
  test('each platform manifest is scanned, attestations are not; findings per platform', async () => {
    const amd64 = pushImage('amd64');
    const arm64 = pushImage('arm64');
    const attestation = pushImage('attestation');
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: ociIndex,
      manifests: [
        { mediaType: ociManifest, digest: amd64, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: ociManifest, digest: arm64, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        {
          mediaType: ociManifest,
          digest: attestation,
          platform: { os: 'unknown', architecture: 'unknown' },
          annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': amd64 },
        },
      ],
    });
    const digest = digestOf(index);
    endpoint.images.set(`team/app@${digest}`, { mediaType: ociIndex, manifest: index });
    endpoint.findings.set(`team/app@${amd64}`, [basic('CVE-1', 'HIGH')]);
    endpoint.findings.set(`team/app@${arm64}`, [basic('CVE-2', 'LOW', 'zlib', '1.2')]);
    const scan = await scanEcrImage(target, digest, scanOptions().options);
    expect(scan.images).toEqual([
      { platform: 'linux/amd64', digest: amd64, findings: [expect.objectContaining({ id: 'CVE-1', severity: 'HIGH' })] },
      { platform: 'linux/arm64/v8', digest: arm64, findings: [expect.objectContaining({ id: 'CVE-2', package: 'zlib', installed: '1.2' })] },
    ]);
    expect(endpoint.scans.has(`team/app@${attestation}`)).toBe(false);
  });
});

describe('enhanced scanning (Amazon Inspector)', () => {
  const inspector = (id: string, severity: string, status = 'ACTIVE') => ({
    severity,
    status,
    title: `${id} - openssl`,
    type: 'PACKAGE_VULNERABILITY',
    packageVulnerabilityDetails: {
      vulnerabilityId: id,
      sourceUrl: `https://nvd.nist.gov/vuln/detail/${id}`,
      vulnerablePackages: [{ name: 'openssl', version: '3.0.1', release: 'r0', fixedInVersion: severity === 'HIGH' ? '3.0.2' : 'NotAvailable' }],
    },
  });

  test('waits for Inspector without starting a scan, and reads its findings (active only, fixed-in version, UNTRIAGED as UNDEFINED)', async () => {
    const digest = pushImage('enhanced');
    endpoint.scanning.scanType = 'ENHANCED';
    endpoint.scanning.rules = [{ scanFrequency: 'CONTINUOUS_SCAN', repositoryFilters: [{ filter: '*', filterType: 'WILDCARD' }] }];
    endpoint.scanning.autoStart = true;
    endpoint.scanning.pollsUntilComplete = 2;
    endpoint.findings.set(`team/app@${digest}`, [inspector('CVE-9', 'HIGH'), inspector('CVE-8', 'UNTRIAGED'), inspector('CVE-7', 'CRITICAL', 'SUPPRESSED')]);
    const from = endpoint.calls.length;
    const scan = await scanEcrImage(target, digest, scanOptions().options);
    expect(scan.scanning).toBe('enhanced');
    expect(scan.images[0]?.findings).toEqual([
      { id: 'CVE-9', severity: 'HIGH', package: 'openssl', installed: '3.0.1-r0', fixed: '3.0.2', url: 'https://nvd.nist.gov/vuln/detail/CVE-9' },
      { id: 'CVE-8', severity: 'UNDEFINED', package: 'openssl', installed: '3.0.1-r0', fixed: undefined, url: 'https://nvd.nist.gov/vuln/detail/CVE-8' },
    ]);
    expect(actionsSince(from).filter((a) => a.startsWith('StartImageScan'))).toEqual([]);
  });

  test('ACTIVE before Inspector has a result is not the end: the scan waits for the completion time and the findings', async () => {
    const digest = pushImage('enhanced-late');
    endpoint.scanning.scanType = 'ENHANCED';
    endpoint.scanning.rules = [{ scanFrequency: 'SCAN_ON_PUSH', repositoryFilters: [{ filter: '*', filterType: 'WILDCARD' }] }];
    endpoint.scanning.autoStart = true;
    endpoint.scanning.pollsWithoutResult = 2;
    endpoint.findings.set(`team/app@${digest}`, [inspector('CVE-5', 'CRITICAL')]);
    const from = endpoint.calls.length;
    const scan = await scanEcrImage(target, digest, scanOptions().options);
    expect(scan.images[0]?.findings.map((f) => [f.id, f.severity])).toEqual([['CVE-5', 'CRITICAL']]);
    expect(actionsSince(from).filter((a) => a.startsWith('DescribeImageScanFindings'))).toHaveLength(3);
  });

  test("another account's registry: its configuration cannot be read, so a refused StartImageScan means Inspector, and the scan waits", async () => {
    const digest = pushImage('cross-account');
    const other: EcrScanRepository = {
      registry: { host: '210987654321.dkr.ecr.us-east-1.amazonaws.com', registryId: '210987654321', region: 'us-east-1' },
      repository: 'team/app',
    };
    endpoint.scanning.scanType = 'ENHANCED';
    endpoint.scanning.rules = [];
    endpoint.findings.set(`team/app@${digest}`, [inspector('CVE-6', 'HIGH')]);
    const { options, lines } = scanOptions();
    const sleep = options.sleep;
    // Inspector in the other account scans by itself, a little after the push.
    options.sleep = async (ms) => {
      if (!endpoint.scans.has(`team/app@${digest}`)) endpoint.startScan('team/app', digest);
      await sleep(ms);
    };
    const scan = await scanEcrImage(other, digest, options);
    expect(scan).toMatchObject({ scanning: 'enhanced', images: [{ findings: [expect.objectContaining({ id: 'CVE-6' })] }] });
    expect(lines[0]).toMatch(/^the scanning configuration readable is account 123456789012's, not 210987654321's; assuming basic scanning/);
    expect(lines).toContain('StartImageScan was refused: the registry scans with Amazon Inspector (enhanced scanning); waiting for it');
  });

  test('no rule matches the repository: Inspector will never scan it, said at once', async () => {
    const digest = pushImage('enhanced-no-rule');
    endpoint.scanning.scanType = 'ENHANCED';
    endpoint.scanning.rules = [{ scanFrequency: 'SCAN_ON_PUSH', repositoryFilters: [{ filter: 'prod-*', filterType: 'WILDCARD' }] }];
    await expect(scanEcrImage(target, digest, scanOptions().options)).rejects.toThrow(/no scanning rule matches team\/app, so Inspector will not scan it/);
  });
});

test('assume-role: the scan calls are signed with the role’s credentials', async () => {
  const digest = pushImage('role');
  const from = endpoint.calls.length;
  await scanEcrImage({ ...target, assumeRole: { roleArn: 'arn:aws:iam::123456789012:role/scan', oidc: false } }, digest, scanOptions().options);
  const assumed = endpoint.assumed[endpoint.assumed.length - 1];
  const ecrCalls = endpoint.calls.slice(from).filter((call) => call.service === 'ecr');
  expect(ecrCalls.length).toBeGreaterThan(2);
  expect(ecrCalls.every((call) => call.accessKeyId === assumed?.accessKeyId)).toBe(true);
});

import {
  BatchGetImageCommand,
  DescribeImageScanFindingsCommand,
  ECRClient,
  GetRegistryScanningConfigurationCommand,
  paginateDescribeImageScanFindings,
  PutRegistryScanningConfigurationCommand,
  StartImageScanCommand,
} from '@aws-sdk/client-ecr';
import { createHash } from 'node:crypto';
import { EcrEndpoint, ScanFinding, startEcrEndpoint } from '../e2e/ecr-endpoint';

// The ECR stand-in's image-scanning API, driven by the real @aws-sdk/client-ecr.

const digest = `sha256:${'a'.repeat(64)}`;
const image = { repositoryName: 'team/app', imageId: { imageDigest: digest } };
const key = `team/app@${digest}`;

const basic = (name: string, severity: string): ScanFinding => ({
  name,
  severity,
  uri: `https://security-tracker.debian.org/tracker/${name}`,
  description: `${name} in openssl`,
  attributes: [
    { key: 'package_name', value: 'openssl' },
    { key: 'package_version', value: '3.0.11' },
  ],
});

let endpoint: EcrEndpoint;
let ecr: ECRClient;
const clientConfig = () => ({ endpoint: endpoint.url, region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'x' } });

beforeEach(async () => {
  endpoint = await startEcrEndpoint();
  ecr = new ECRClient(clientConfig());
});
afterEach(async () => {
  ecr.destroy();
  await endpoint.stop();
});

const describeScan = (input: { maxResults?: number; nextToken?: string } = {}) => ecr.send(new DescribeImageScanFindingsCommand({ ...image, ...input }));
const actions = () => endpoint.calls.map((call) => `${call.action} ${call.status}`);

describe('basic scanning', () => {
  test('StartImageScan, then IN_PROGRESS for pollsUntilComplete describes, then COMPLETE with the findings and their counts', async () => {
    endpoint.scanning.pollsUntilComplete = 1;
    endpoint.findings.set(key, [basic('CVE-2024-0001', 'HIGH'), basic('CVE-2024-0002', 'LOW'), basic('CVE-2024-0003', 'HIGH')]);

    const started = await ecr.send(new StartImageScanCommand(image));
    expect(started).toMatchObject({ registryId: '123456789012', repositoryName: 'team/app', imageId: { imageDigest: digest } });
    expect(started.imageScanStatus).toEqual({ status: 'IN_PROGRESS', description: 'The scan is in progress' });
    expect(endpoint.scans.get(key)).toEqual({ describes: 0, startedBy: 'StartImageScan' });

    const running = await describeScan();
    expect(running.imageScanStatus?.status).toBe('IN_PROGRESS');
    expect(running.imageScanFindings).toBeUndefined();

    const before = Date.now();
    const done = await describeScan();
    expect(done).toMatchObject({ registryId: '123456789012', repositoryName: 'team/app', imageId: { imageDigest: digest } });
    expect(done.imageScanStatus).toEqual({ status: 'COMPLETE', description: 'The scan was completed successfully.' });
    const findings = done.imageScanFindings;
    expect(findings?.findingSeverityCounts).toEqual({ HIGH: 2, LOW: 1 });
    expect(findings?.findings?.map((finding) => `${finding.name} ${finding.severity}`)).toEqual([
      'CVE-2024-0001 HIGH',
      'CVE-2024-0002 LOW',
      'CVE-2024-0003 HIGH',
    ]);
    expect(findings?.findings?.[0]).toEqual(basic('CVE-2024-0001', 'HIGH'));
    expect(findings?.enhancedFindings).toBeUndefined();
    expect(findings?.imageScanCompletedAt?.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(findings?.imageScanCompletedAt?.getTime()).toBeLessThanOrEqual(Date.now());
    expect(findings?.vulnerabilitySourceUpdatedAt?.getTime()).toBeLessThan(findings?.imageScanCompletedAt?.getTime() ?? 0);
    expect(done.nextToken).toBeUndefined();

    expect(endpoint.scans.get(key)?.describes).toBe(2);
    expect(actions()).toEqual(['StartImageScan 200', 'DescribeImageScanFindings 200', 'DescribeImageScanFindings 200']);
    expect(endpoint.calls[0]).toMatchObject({ service: 'ecr', accessKeyId: 'AKIDTEST', params: image });
  });

  test('findings come in pages of maxResults (default 100); only first pages count as describes', async () => {
    const names = Array.from({ length: 5 }, (_, i) => `CVE-2024-000${i}`);
    endpoint.findings.set(
      key,
      names.map((name, i) => basic(name, i < 2 ? 'CRITICAL' : 'MEDIUM')),
    );
    await ecr.send(new StartImageScanCommand(image));

    const pages = [];
    // A copy: the paginator writes nextToken and maxResults into its input.
    for await (const page of paginateDescribeImageScanFindings({ client: ecr, pageSize: 2 }, { ...image })) pages.push(page);
    expect(pages.map((page) => page.imageScanFindings?.findings?.map((finding) => finding.name))).toEqual([
      names.slice(0, 2),
      names.slice(2, 4),
      names.slice(4),
    ]);
    for (const page of pages) expect(page.imageScanFindings?.findingSeverityCounts).toEqual({ CRITICAL: 2, MEDIUM: 3 });
    expect(new Set(pages.map((page) => page.imageScanFindings?.imageScanCompletedAt?.getTime())).size).toBe(1);
    expect(endpoint.calls.slice(1).map((call) => [call.params.maxResults, typeof call.params.nextToken])).toEqual([
      [2, 'undefined'],
      [2, 'string'],
      [2, 'string'],
    ]);
    expect(endpoint.scans.get(key)?.describes).toBe(1);

    endpoint.findings.set(
      key,
      Array.from({ length: 101 }, (_, i) => basic(`CVE-2023-${1000 + i}`, 'LOW')),
    );
    const first = await describeScan();
    expect(first.imageScanFindings?.findings).toHaveLength(100);
    expect(first.imageScanFindings?.findingSeverityCounts).toEqual({ LOW: 101 });
    const rest = await describeScan({ nextToken: first.nextToken });
    expect(rest.imageScanFindings?.findings?.map((finding) => finding.name)).toEqual(['CVE-2023-1100']);
    expect(rest.nextToken).toBeUndefined();
    expect(endpoint.scans.get(key)?.describes).toBe(2);
  });

  test('an image with no scan: ScanNotFoundException', async () => {
    await expect(describeScan()).rejects.toMatchObject({
      name: 'ScanNotFoundException',
      message: `Image scan does not exist for the image with '{imageDigest:${digest}}' in the repository with name 'team/app' in the registry with id '123456789012'`,
      $metadata: { httpStatusCode: 400 },
    });
    expect(endpoint.scans.size).toBe(0);
    expect(actions()).toEqual(['DescribeImageScanFindings 400']);
  });

  test('autoStart: the first describe starts the scan (as on push); no findings → COMPLETE with none', async () => {
    endpoint.scanning.autoStart = true;
    endpoint.scanning.pollsUntilComplete = 1;
    expect((await describeScan()).imageScanStatus?.status).toBe('IN_PROGRESS');
    expect(endpoint.scans.get(key)).toEqual({ describes: 1, startedBy: 'push' });
    const done = await describeScan();
    expect(done.imageScanStatus?.status).toBe('COMPLETE');
    expect(done.imageScanFindings).toMatchObject({ findingSeverityCounts: {}, findings: [] });
  });

  test('a second StartImageScan, or one after a scan on push: LimitExceededException', async () => {
    // The SDK takes LimitExceededException for throttling and would retry it (with backoff) up to maxAttempts.
    const once = new ECRClient({ ...clientConfig(), maxAttempts: 1 });
    await once.send(new StartImageScanCommand(image));
    const limit = { name: 'LimitExceededException', message: 'The scan quota per image has been exceeded. Wait and try again.' };
    await expect(once.send(new StartImageScanCommand(image))).rejects.toMatchObject(limit);

    const pushed = { repositoryName: 'team/app', imageId: { imageDigest: `sha256:${'b'.repeat(64)}` } };
    endpoint.startScan('team/app', pushed.imageId.imageDigest);
    await expect(once.send(new StartImageScanCommand(pushed))).rejects.toMatchObject(limit);
    expect((await once.send(new DescribeImageScanFindingsCommand(pushed))).imageScanStatus?.status).toBe('COMPLETE');
    expect(actions()).toEqual(['StartImageScan 200', 'StartImageScan 400', 'StartImageScan 400', 'DescribeImageScanFindings 200']);
    once.destroy();
  });

  test('a final status: UNSUPPORTED_IMAGE refuses StartImageScan and is what a pushed scan ends in; FAILED ends a started one', async () => {
    const unsupported = { status: 'UNSUPPORTED_IMAGE', description: 'The operating system and/or package manager are not supported.' };
    endpoint.finalStatus.set(key, unsupported);
    endpoint.findings.set(key, [basic('CVE-2024-0001', 'HIGH')]);
    await expect(ecr.send(new StartImageScanCommand(image))).rejects.toMatchObject({ name: 'UnsupportedImageTypeException', message: unsupported.description });
    expect(endpoint.scans.has(key)).toBe(false);
    endpoint.startScan('team/app', digest);
    const ended = await describeScan();
    expect(ended.imageScanStatus).toEqual(unsupported);
    expect(ended.imageScanFindings).toBeUndefined();

    const other = { repositoryName: 'team/app', imageId: { imageDigest: `sha256:${'c'.repeat(64)}` } };
    endpoint.finalStatus.set(`team/app@${other.imageId.imageDigest}`, { status: 'FAILED', description: 'Scan failed' });
    expect((await ecr.send(new StartImageScanCommand(other))).imageScanStatus?.status).toBe('IN_PROGRESS');
    expect((await ecr.send(new DescribeImageScanFindingsCommand(other))).imageScanStatus).toEqual({ status: 'FAILED', description: 'Scan failed' });
  });
});

test('enhanced scanning: the configuration says so, StartImageScan is refused, PENDING then ACTIVE with enhancedFindings', async () => {
  const rules = [{ scanFrequency: 'CONTINUOUS_SCAN' as const, repositoryFilters: [{ filter: 'team/*', filterType: 'WILDCARD' as const }] }];
  endpoint.scanning = { scanType: 'ENHANCED', rules, pollsUntilComplete: 1, pollsWithoutResult: 0, autoStart: true };
  const inspector: ScanFinding = {
    awsAccountId: '123456789012',
    findingArn: 'arn:aws:inspector2:us-east-1:123456789012:finding/0a1b2c',
    description: 'A use-after-free in openssl.',
    title: 'CVE-2024-1234 - openssl',
    severity: 'CRITICAL',
    status: 'ACTIVE',
    type: 'PACKAGE_VULNERABILITY',
    score: 9.8,
    firstObservedAt: 1_700_000_000,
    fixAvailable: 'YES',
    packageVulnerabilityDetails: {
      vulnerabilityId: 'CVE-2024-1234',
      source: 'NVD',
      vulnerablePackages: [{ name: 'openssl', version: '3.0.11', fixedInVersion: '3.0.13', packageManager: 'OS' }],
    },
  };
  endpoint.findings.set(key, [inspector, { ...inspector, findingArn: `${inspector.findingArn}d`, severity: 'HIGH' }]);

  expect(await ecr.send(new GetRegistryScanningConfigurationCommand({}))).toMatchObject({
    registryId: '123456789012',
    scanningConfiguration: { scanType: 'ENHANCED', rules },
  });
  await expect(ecr.send(new StartImageScanCommand(image))).rejects.toMatchObject({
    name: 'ValidationException',
    message: 'This operation is not supported for registries with enhanced scanning',
  });

  expect((await describeScan()).imageScanStatus?.status).toBe('PENDING');
  const active = await describeScan();
  expect(active.imageScanStatus?.status).toBe('ACTIVE');
  expect(active.imageScanFindings?.findings).toBeUndefined();
  expect(active.imageScanFindings?.findingSeverityCounts).toEqual({ CRITICAL: 1, HIGH: 1 });
  const [first] = active.imageScanFindings?.enhancedFindings ?? [];
  expect(first).toMatchObject({ title: 'CVE-2024-1234 - openssl', severity: 'CRITICAL', score: 9.8, firstObservedAt: new Date(1_700_000_000_000) });
  expect(first?.packageVulnerabilityDetails?.vulnerablePackages?.[0]?.fixedInVersion).toBe('3.0.13');
  expect(active.imageScanFindings?.enhancedFindings?.map((finding) => finding.severity)).toEqual(['CRITICAL', 'HIGH']);
});

test('BatchGetImage: by digest and by tag from images, from imageSource, and ImageNotFound failures', async () => {
  const mediaType = 'application/vnd.oci.image.manifest.v1+json';
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType, config: { mediaType: 'application/vnd.oci.image.config.v1+json' }, layers: [] }, null, 3);
  const manifestDigest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
  endpoint.images.set(`team/app@${manifestDigest}`, { mediaType, manifest });
  endpoint.images.set('team/app:v1', { mediaType, manifest });
  const asked: string[] = [];
  endpoint.imageSource = async (repository, reference) => {
    asked.push(`${repository} ${reference}`);
    return reference === 'v2' ? { mediaType, manifest: `${manifest}\n`, digest } : undefined;
  };

  const out = await ecr.send(
    new BatchGetImageCommand({
      repositoryName: 'team/app',
      imageIds: [{ imageDigest: manifestDigest }, { imageTag: 'v1' }, { imageTag: 'v2' }, { imageTag: 'missing' }],
      acceptedMediaTypes: [mediaType],
    }),
  );
  const found = (imageId: object, text: string) => ({
    registryId: '123456789012',
    repositoryName: 'team/app',
    imageId,
    imageManifest: text,
    imageManifestMediaType: mediaType,
  });
  expect(out.images).toEqual([
    found({ imageDigest: manifestDigest }, manifest),
    found({ imageDigest: manifestDigest, imageTag: 'v1' }, manifest),
    found({ imageDigest: digest, imageTag: 'v2' }, `${manifest}\n`),
  ]);
  expect(out.failures).toEqual([{ imageId: { imageTag: 'missing' }, failureCode: 'ImageNotFound', failureReason: 'Requested image not found' }]);
  expect(asked).toEqual(['team/app v2', 'team/app missing']);
  expect(endpoint.calls).toMatchObject([{ action: 'BatchGetImage', status: 200, params: { acceptedMediaTypes: [mediaType] } }]);
});

test('throttles, failures injected for one action and unknown operations apply to the scanning API too', async () => {
  endpoint.failNext('ecr', 'AccessDeniedException', 'not authorized to perform ecr:StartImageScan', 'StartImageScan');
  endpoint.failNext('ecr', 'InvalidParameterException', 'for any action');
  // The action-less failure is the first one a GetRegistryScanningConfiguration can take.
  await expect(ecr.send(new GetRegistryScanningConfigurationCommand({}))).rejects.toMatchObject({
    name: 'InvalidParameterException',
    message: 'for any action',
  });
  expect((await ecr.send(new GetRegistryScanningConfigurationCommand({}))).scanningConfiguration).toEqual({ scanType: 'BASIC', rules: [] });
  await expect(ecr.send(new StartImageScanCommand(image))).rejects.toMatchObject({
    name: 'AccessDeniedException',
    message: 'not authorized to perform ecr:StartImageScan',
    $metadata: { httpStatusCode: 400 },
  });
  await ecr.send(new StartImageScanCommand(image));

  endpoint.throttleNext(1, 'ecr');
  expect((await describeScan()).imageScanStatus?.status).toBe('COMPLETE');
  expect(endpoint.scans.get(key)?.describes).toBe(1);
  await expect(ecr.send(new PutRegistryScanningConfigurationCommand({ scanType: 'ENHANCED' }))).rejects.toMatchObject({ name: 'UnknownOperationException' });

  expect(actions()).toEqual([
    'GetRegistryScanningConfiguration 400',
    'GetRegistryScanningConfiguration 200',
    'StartImageScan 400',
    'StartImageScan 200',
    'DescribeImageScanFindings 400',
    'DescribeImageScanFindings 200',
    'unknown 400',
  ]);
  expect(endpoint.calls.at(-1)?.params.operation).toBe('PutRegistryScanningConfiguration');
});

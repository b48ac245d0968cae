import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EcrEndpoint, startEcrEndpoint } from './ecr-endpoint';
import { EcrRegistry, describeWithEcrRegistry, ecrHost, ecrManifestRaw, startEcrRegistry } from './ecr-registry';
import { checkout, expectSuccess, multiarchCheckout, runPipelineStep, scratchDir } from './support';

jest.setTimeout(120_000);

/** A basic-scanning finding, as ECR returns it. */
const finding = (name: string, severity: string, pkg = 'busybox', version = '1.36.1') => ({
  name,
  severity,
  uri: `https://security-tracker.debian.org/tracker/${name}`,
  attributes: [
    { key: 'package_name', value: pkg },
    { key: 'package_version', value: version },
  ],
});

describeWithEcrRegistry('scan: Amazon ECR image scanning of the pushed digest (real SDK, local ECR endpoint, TLS registry)', () => {
  let endpoint: EcrEndpoint;
  let registry: EcrRegistry;
  const latestToken = () => endpoint.tokens[endpoint.tokens.length - 1] ?? '';

  beforeAll(async () => {
    endpoint = await startEcrEndpoint();
    registry = await startEcrRegistry('not-a-token-yet');
    endpoint.onToken = (token, service) => {
      if (service === 'ecr') registry.setPassword(token);
    };
    // BatchGetImage answers with what the registry really holds.
    endpoint.imageSource = (repository, reference) => ecrManifestRaw(repository, reference, latestToken());
  });
  afterAll(async () => {
    await registry?.stop();
    await endpoint?.stop();
  });
  beforeEach(() => {
    endpoint.scanning.scanType = 'BASIC';
    endpoint.scanning.rules = [];
    endpoint.scanning.autoStart = false;
    endpoint.scanning.pollsUntilComplete = 1;
  });

  const agentEnv = () => ({
    HOME: scratchDir('home-'),
    AWS_ACCESS_KEY_ID: 'AKIDAGENT',
    AWS_SECRET_ACCESS_KEY: 'agent-secret',
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_ECR: endpoint.url,
    AWS_ENDPOINT_URL_STS: endpoint.url,
  });
  const push = (repo: string, scan: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    image: `${ecrHost}/${repo}`,
    tags: ['1'],
    push: true,
    target: 'runtime',
    network: 'none',
    scan,
    ...extra,
  });
  /** The manifests of the pushed image that are images (not attestations), by digest. */
  async function imageDigests(repo: string): Promise<string[]> {
    const pushed = await ecrManifestRaw(repo, '1', latestToken());
    const parsed = JSON.parse(pushed?.manifest ?? '{}') as { manifests?: Array<{ digest: string; platform?: { os?: string } }> };
    if (!parsed.manifests) return [pushed?.digest ?? ''];
    return parsed.manifests.filter((m) => m.platform?.os !== 'unknown').map((m) => m.digest);
  }
  const startedScans = (from: number) =>
    endpoint.calls
      .slice(from)
      .filter((call) => call.action === 'StartImageScan' && call.status === 200)
      .map((call) => (call.params.imageId as { imageDigest: string }).imageDigest);

  test('fail-on HIGH: a HIGH finding fails the step before its command; the annotation is an error naming it', async () => {
    const dir = checkout();
    endpoint.findings.set('e2e/scan-gate', [finding('CVE-2024-1111', 'HIGH'), finding('CVE-2024-2222', 'LOW')]);
    const from = endpoint.calls.length;
    const run = await runPipelineStep(
      dir,
      { key: 'gate', command: 'touch ran', config: push('e2e/scan-gate', { ecr: true, 'fail-on': 'HIGH' }) },
      { processEnv: agentEnv() },
    );
    expect(run.code).toBe(1);
    expect(existsSync(join(dir, 'ran'))).toBe(false);
    expect(run.output).toContain('buildkit: scan: 1 high, 1 low');
    expect(run.output).toContain('buildkit: error: scan: 1 finding(s) at or above HIGH (scan.fail-on): CVE-2024-1111 (HIGH, busybox 1.36.1)');
    expect(run.output).toContain('[buildkite-agent] annotate --style error --context buildkit-gate-scan');
    expect(run.result.annotations['buildkit-gate-scan']).toContain('**Gate `fail-on: HIGH` failed** by `CVE-2024-1111`');
    const digest = run.result.metaData['buildkit.gate.digest'];
    expect(JSON.parse(run.result.metaData['buildkit.gate.scan'] ?? '')).toMatchObject({
      result: 'failed',
      failOn: 'HIGH',
      scanner: 'ecr-basic',
      repository: `${ecrHost}/e2e/scan-gate`,
      digest,
      counts: { HIGH: 1, LOW: 1, CRITICAL: 0 },
      failing: ['CVE-2024-1111'],
    });
    // The scan was of the pushed image's manifests, started once each.
    expect(startedScans(from).sort()).toEqual((await imageDigests('e2e/scan-gate')).sort());
  });

  test('ignore: the same finding ignored passes; the step command runs; meta-data counts it as ignored', async () => {
    const dir = checkout();
    endpoint.findings.set('e2e/scan-ignore', [finding('CVE-2024-1111', 'HIGH')]);
    const run = await runPipelineStep(
      dir,
      { key: 'ignore', command: 'touch ran', config: push('e2e/scan-ignore', { ecr: true, 'fail-on': 'high', ignore: ['cve-2024-1111'] }) },
      { processEnv: agentEnv() },
    );
    expectSuccess(run);
    expect(existsSync(join(dir, 'ran'))).toBe(true);
    expect(JSON.parse(run.result.metaData['buildkit.ignore.scan'] ?? '')).toMatchObject({ result: 'passed', ignored: 1 });
    expect(run.result.annotations['buildkit-ignore-scan']).toContain('no finding at or above HIGH (1 ignored)');
  });

  test('scan on push already started: the plugin waits for it and never calls StartImageScan', async () => {
    const dir = checkout();
    endpoint.scanning.rules = [{ scanFrequency: 'SCAN_ON_PUSH', repositoryFilters: [{ filter: 'e2e/*', filterType: 'WILDCARD' }] }];
    endpoint.scanning.autoStart = true;
    endpoint.scanning.pollsUntilComplete = 2;
    const from = endpoint.calls.length;
    const run = await runPipelineStep(
      dir,
      { key: 'onpush', config: push('e2e/scan-on-push', { ecr: true, 'fail-on': 'CRITICAL' }) },
      { processEnv: agentEnv() },
    );
    expectSuccess(run);
    expect(endpoint.calls.slice(from).filter((call) => call.action === 'StartImageScan')).toEqual([]);
    expect(run.output).toContain('buildkit: scan: no findings');
  });

  test('a multi-platform index: each platform scanned and reported on its own row; attestations are not scanned', async () => {
    const dir = multiarchCheckout();
    endpoint.findings.set('e2e/scan-multi', [finding('CVE-2024-3333', 'MEDIUM')]);
    const from = endpoint.calls.length;
    const run = await runPipelineStep(
      dir,
      {
        key: 'multi',
        config: {
          image: `${ecrHost}/e2e/scan-multi`,
          tags: ['1'],
          push: true,
          network: 'none',
          platforms: ['linux/amd64', 'linux/arm64'],
          scan: { ecr: true },
        },
      },
      { processEnv: agentEnv() },
    );
    expectSuccess(run);
    const platforms = await imageDigests('e2e/scan-multi');
    expect(platforms).toHaveLength(2);
    expect(startedScans(from).sort()).toEqual(platforms.sort());
    const annotation = run.result.annotations['buildkit-multi-scan'] ?? '';
    expect(annotation).toContain('| linux/amd64 | 0 | 0 | 1 | 0 | 0 | 0 |');
    expect(annotation).toContain('| linux/arm64 | 0 | 0 | 1 | 0 | 0 | 0 |');
    expect(JSON.parse(run.result.metaData['buildkit.multi.scan'] ?? '').platforms).toEqual({
      'linux/amd64': expect.objectContaining({ MEDIUM: 1 }),
      'linux/arm64': expect.objectContaining({ MEDIUM: 1 }),
    });
  });

  test('access denied: with a gate the step fails naming the permission; report-only warns and goes on', async () => {
    const denied = 'User: arn:aws:sts::123456789012:assumed-role/agent/i-1 is not authorized to perform: ecr:StartImageScan';
    endpoint.failNext('ecr', 'AccessDeniedException', denied, 'StartImageScan');
    const gated = await runPipelineStep(
      checkout(),
      { key: 'denied', command: 'touch ran', config: push('e2e/scan-denied', { ecr: true, 'fail-on': 'CRITICAL' }) },
      { processEnv: agentEnv() },
    );
    expect(gated.code).toBe(1);
    expect(gated.output).toContain(
      `AccessDeniedException: ${denied} (the credentials, the environment credentials (AWS_ACCESS_KEY_ID), need ecr:StartImageScan on the repository)`,
    );
    expect(gated.output).toContain('buildkit: error: scan: the ECR scan could not tell whether the image passes (scan.fail-on: CRITICAL)');

    endpoint.failNext('ecr', 'AccessDeniedException', denied, 'StartImageScan');
    const dir = checkout();
    const reportOnly = await runPipelineStep(
      dir,
      { key: 'warned', command: 'touch ran', config: push('e2e/scan-denied', { ecr: true }) },
      { processEnv: agentEnv() },
    );
    expectSuccess(reportOnly);
    expect(existsSync(join(dir, 'ran'))).toBe(true);
    expect(reportOnly.output).toMatch(/buildkit: warning: scan: (image|linux\/amd64): AccessDeniedException/);
    expect(reportOnly.output).toContain('[buildkite-agent] annotate --style warning --context buildkit-warned-scan');
  });

  test('scan.command: a scanner of your own gets the digest and refs; its non-zero exit fails the step', async () => {
    const dir = checkout();
    writeFileSync(join(dir, 'scan.sh'), '#!/bin/sh\nprintf "%s\\n%s\\n" "$BUILDKIT_IMAGE_DIGEST" "$BUILDKIT_IMAGE_REFS" > scanned\nexit 4\n', { mode: 0o755 });
    const run = await runPipelineStep(
      dir,
      { key: 'own', command: 'touch ran', config: push('e2e/scan-own', { command: './scan.sh' }) },
      { processEnv: agentEnv() },
    );
    expect(run.code).toBe(1);
    expect(existsSync(join(dir, 'ran'))).toBe(false);
    expect(readFileSync(join(dir, 'scanned'), 'utf8')).toBe(`${run.result.metaData['buildkit.own.digest']}\n${ecrHost}/e2e/scan-own:1\n`);
    expect(run.output).toContain('buildkit: error: scan: scan.command failed (exit 4)');
    expect(JSON.parse(run.result.metaData['buildkit.own.scan'] ?? '')).toEqual({ result: 'failed', failOn: 'never', command: { exit: 4 } });
  });

  test('a repository that is not ECR is refused by the environment hook, before anything runs', async () => {
    const dir = checkout();
    const run = await runPipelineStep(dir, { key: 'ghcr', command: 'touch ran', config: { image: 'ghcr.io/acme/app', push: true, scan: { ecr: true } } });
    expect(run.code).not.toBe(0);
    expect(run.output).toContain('scan.ecr: Amazon ECR scans images in private ECR repositories');
    expect(run.output).not.toContain('docker buildx build');
    expect(existsSync(join(dir, 'ran'))).toBe(false);
  });
});

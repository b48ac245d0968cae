import { pluginEnv } from '../../src/cli/plugin-env';
import { loadConfig } from '../../src/config/load-config';
import { ScanConfig } from '../../src/config/scan';
import { planBuildRequest } from '../../src/plan/build-request';
import { planLogins } from '../../src/plan/registry-logins';
import { planScan, repositoryOf } from '../../src/plan/scan-plan';
import { checkJob } from '../../src/run/config-or-fail';
import { UserError } from '../../src/run/hook-main';
import { Finding, ScanOutcome, judgeScan, scanAnnotation, scanMetaData } from '../../src/report/scan-report';
import { buildWritesMetadata, commandHook, digest } from '../support/command-hook';
import { fakeRuntime } from '../support/fake-runtime';

const ecrHost = '123456789012.dkr.ecr.us-east-1.amazonaws.com';

function load(config: Record<string, unknown>, form: 'json' | 'flattened' = 'json') {
  return loadConfig({ PATH: '/usr/bin', ...pluginEnv('buildkit#v1', config, form) });
}

function settings(config: Record<string, unknown>, form: 'json' | 'flattened' = 'json'): ScanConfig | undefined {
  const loaded = load({ image: `${ecrHost}/app`, push: true, ...config }, form);
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  return loaded.config.scan;
}

function errorsOf(config: Record<string, unknown>, form: 'json' | 'flattened' = 'json'): string[] {
  const loaded = load({ image: `${ecrHost}/app`, push: true, ...config }, form);
  return loaded.ok ? [] : loaded.errors;
}

describe('scan: the option', () => {
  test.each(['json', 'flattened'] as const)('%s: every setting, fail-on in any case, ids upper-cased, a duration', (form) => {
    expect(settings({ scan: { ecr: true, 'fail-on': 'high', timeout: '15m', ignore: ['cve-2024-1', 'GHSA-x'] } }, form)).toEqual({
      ecr: true,
      failOn: 'HIGH',
      timeoutSeconds: 900,
      ignore: ['CVE-2024-1', 'GHSA-X'],
      command: undefined,
    });
  });

  test.each(['json', 'flattened'] as const)('%s: defaults: report only, 10 minutes; timeout in seconds; a command alone', (form) => {
    expect(settings({ scan: { ecr: true } }, form)).toEqual({ ecr: true, failOn: 'never', timeoutSeconds: 600, ignore: [], command: undefined });
    expect(settings({ scan: { ecr: true, timeout: 90, ignore: 'CVE-1,CVE-2' } }, form)).toMatchObject({ timeoutSeconds: 90, ignore: ['CVE-1', 'CVE-2'] });
    expect(settings({ scan: { command: 'trivy image "$BUILDKIT_IMAGE_DIGEST"' } }, form)).toMatchObject({
      ecr: false,
      command: 'trivy image "$BUILDKIT_IMAGE_DIGEST"',
    });
    expect(settings({}, form)).toBeUndefined();
  });

  test.each(['json', 'flattened'] as const)('%s: bad settings name the option and what was expected', (form) => {
    expect(errorsOf({ scan: { ecr: true, timeout: 'ten minutes' } }, form)).toEqual([
      'scan.timeout: expected a duration of at least 1s, such as 600, 90s, 10m or 1h; got "ten minutes"',
    ]);
    expect(errorsOf({ scan: { ecr: true, timeout: 0 } }, form)).toEqual([expect.stringContaining('scan.timeout: expected a duration of at least 1s')]);
    expect(errorsOf({ scan: { ecr: false } }, form).join('\n')).toContain(
      'scan: say what scans the image: ecr: true (Amazon ECR image scanning), command (a scanner of your own), or both',
    );
    expect(errorsOf({ scan: { command: 'grype', 'fail-on': 'HIGH' } }, form)).toEqual([
      'scan.fail-on: applies to the ECR scan; set scan.ecr: true (a scan.command gates by its exit status)',
    ]);
    expect(errorsOf({ scan: { ecr: true, 'fail-on': 'SEVERE' } }, form)).toEqual(['scan.fail-on: expected CRITICAL, HIGH, MEDIUM, LOW or never; got "SEVERE"']);
    expect(settings({ scan: { ecr: true, 'fail-on': 'High' } }, form)?.failOn).toBe('HIGH');
    expect(errorsOf({ scan: { ecr: true, gate: 'HIGH' } }, form).join('\n')).toMatch(/gate/);
  });
});

describe('scan: the plan', () => {
  function plan(config: Record<string, unknown>) {
    const loaded = load(config);
    if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
    const { request } = planBuildRequest(loaded.config, {}, '/state', new Date(0));
    return planScan(loaded.config, request, planLogins(loaded.config, request, {}).plan);
  }

  test('the repository of a reference', () => {
    expect(repositoryOf(`${ecrHost}/team/app:1`)).toBe('team/app');
    expect(repositoryOf(`${ecrHost}/app@sha256:${'a'.repeat(64)}`)).toBe('app');
    expect(repositoryOf(`${ecrHost}/app:1@sha256:${'a'.repeat(64)}`)).toBe('app');
  });

  test('the pushed private ECR repository is scanned, with the login role; others are named in a notice', () => {
    const role = { 'role-arn': 'arn:aws:iam::123456789012:role/push' };
    const result = plan({
      image: `${ecrHost}/team/app`,
      tags: ['1', '234567890123.dkr.ecr.eu-west-1.amazonaws.com/mirror:1'],
      push: true,
      ecr: { 'assume-role': role },
      scan: { ecr: true },
    });
    expect(result.errors).toEqual([]);
    expect(result.plan?.ecr).toEqual({
      registry: { host: ecrHost, registryId: '123456789012', region: 'us-east-1' },
      repository: 'team/app',
      assumeRole: { roleArn: role['role-arn'], oidc: false, sessionName: undefined, durationSeconds: undefined },
    });
    expect(result.notices).toEqual([
      `scan.ecr: scanning ${ecrHost}/team/app; the same digest in 234567890123.dkr.ecr.eu-west-1.amazonaws.com/mirror is not scanned again`,
    ]);
  });

  test('refused before anything runs: not pushed, not ECR, ECR Public, bake', () => {
    expect(plan({ image: `${ecrHost}/app`, scan: { ecr: true } }).errors).toEqual(['scan.ecr: Amazon ECR scans the image after the push; set push: true']);
    expect(plan({ image: 'ghcr.io/acme/app', push: true, scan: { ecr: true } }).errors).toEqual([
      'scan.ecr: Amazon ECR scans images in private ECR repositories (<account>.dkr.ecr.<region>.amazonaws.com/<name>); ghcr.io/acme/app:latest is on ghcr.io',
    ]);
    expect(plan({ image: 'public.ecr.aws/acme/app', push: true, scan: { ecr: true } }).errors[0]).toContain('ECR Public has no image scanning');
    expect(plan({ bake: { files: ['docker-bake.hcl'] }, scan: { ecr: true } }).errors[0]).toContain('scan.ecr: with bake');
  });

  test('a scan.command alone needs no registry', () => {
    expect(plan({ image: 'app', load: true, scan: { command: 'trivy image app' } })).toEqual({
      plan: { settings: expect.objectContaining({ command: 'trivy image app', ecr: false }) },
      errors: [],
      notices: [],
    });
  });

  test('the environment hook refuses a repository that is not ECR', () => {
    const env = { PATH: '/usr/bin', ...pluginEnv('buildkit#v1', { image: 'ghcr.io/acme/app', push: true, scan: { ecr: true } }, 'flattened') };
    expect(() => checkJob(env)).toThrow(UserError);
    expect(() => checkJob(env)).toThrow(/scan\.ecr: Amazon ECR scans images in private ECR repositories/);
  });
});

const finding = (id: string, severity: Finding['severity'], extra: Partial<Finding> = {}): Finding => ({ id, severity, ...extra });
const outcome = (failOn: ScanConfig['failOn'], images: ScanOutcome['images'], extra: Partial<ScanOutcome> = {}, ignore: string[] = []): ScanOutcome => ({
  settings: { ecr: true, failOn, timeoutSeconds: 600, ignore, command: undefined },
  repository: `${ecrHost}/app`,
  digest,
  scanning: 'basic',
  images,
  ...extra,
});

describe('scan: the gate', () => {
  const one = (severity: Finding['severity']) => [{ digest, findings: [finding('CVE-1', severity)] }];

  test.each([
    ['CRITICAL', 'CRITICAL', false],
    ['HIGH', 'CRITICAL', false],
    ['HIGH', 'HIGH', false],
    ['HIGH', 'MEDIUM', true],
    ['MEDIUM', 'MEDIUM', false],
    ['MEDIUM', 'LOW', true],
    ['LOW', 'LOW', false],
    ['LOW', 'INFORMATIONAL', true],
    ['LOW', 'UNDEFINED', true],
    ['never', 'CRITICAL', true],
  ] as const)('fail-on %s with a %s finding: passed %s', (failOn, severity, passed) => {
    const verdict = judgeScan(outcome(failOn, one(severity)));
    expect(verdict.passed).toBe(passed);
    expect(verdict.failing.map((f) => f.id)).toEqual(passed ? [] : ['CVE-1']);
    expect(verdict.counts[severity]).toBe(1);
  });

  test('ignored ids never fail the gate, and are counted', () => {
    const verdict = judgeScan(outcome('HIGH', [{ digest, findings: [finding('CVE-1', 'CRITICAL'), finding('CVE-2', 'HIGH')] }], {}, ['CVE-1', 'CVE-2']));
    expect(verdict).toMatchObject({ passed: true, failing: [], ignored: 2 });
  });

  test('the same finding at two severities on two platforms counts at its most severe, and fails the gate', () => {
    const images = [
      { platform: 'linux/amd64', digest, findings: [finding('CVE-1', 'HIGH', { package: 'openssl' })] },
      { platform: 'linux/arm64', digest, findings: [finding('CVE-1', 'MEDIUM', { package: 'openssl' })] },
    ];
    expect(judgeScan(outcome('HIGH', images))).toMatchObject({ passed: false, counts: { HIGH: 1, MEDIUM: 0 } });
  });

  test('an un-ignored HIGH finding makes the annotation a warning, whatever else is ignored', () => {
    const images = [{ digest, findings: [finding('CVE-1', 'HIGH'), finding('CVE-2', 'LOW')] }];
    const reportOnly = outcome('never', images, {}, ['CVE-2']);
    expect(scanAnnotation(reportOnly, judgeScan(reportOnly)).style).toBe('warning');
    const allIgnored = outcome('never', images, {}, ['CVE-1', 'CVE-2']);
    expect(scanAnnotation(allIgnored, judgeScan(allIgnored)).style).toBe('info');
  });

  test('meta-data names the platform of a one-platform index, and a platform whose scan failed', () => {
    const images = [
      { platform: 'linux/amd64', digest, findings: [] },
      { platform: 'linux/arm64', digest, findings: [], error: 'UNSUPPORTED_IMAGE: no' },
    ];
    expect(JSON.parse(scanMetaData(outcome('never', images.slice(0, 1)), judgeScan(outcome('never', images.slice(0, 1))))).platforms).toEqual({
      'linux/amd64': { CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, INFORMATIONAL: 0, UNDEFINED: 0 },
    });
    expect(JSON.parse(scanMetaData(outcome('never', images), judgeScan(outcome('never', images)))).platforms['linux/arm64']).toEqual({
      error: 'UNSUPPORTED_IMAGE: no',
    });
  });

  test('the same finding on two platforms is one finding', () => {
    const images = ['linux/amd64', 'linux/arm64'].map((platform) => ({ platform, digest, findings: [finding('CVE-1', 'HIGH', { package: 'openssl' })] }));
    expect(judgeScan(outcome('never', images)).counts.HIGH).toBe(1);
  });

  test('a scan that did not finish fails a gate, and only warns without one', () => {
    const images = [{ platform: 'linux/amd64', digest, findings: [], error: 'the scan did not complete within 600 s (scan.timeout); last status IN_PROGRESS' }];
    expect(judgeScan(outcome('HIGH', images))).toMatchObject({ passed: false, errors: [`linux/amd64: ${images[0]?.error}`] });
    expect(judgeScan(outcome('never', images))).toMatchObject({ passed: true });
    expect(judgeScan(outcome('LOW', [], { error: 'AccessDeniedException: denied' }))).toMatchObject({
      passed: false,
      errors: ['AccessDeniedException: denied'],
    });
  });

  test('a failing scan.command fails the gate whatever the findings', () => {
    expect(judgeScan(outcome('never', [], { command: { command: 'grype', code: 1 } })).passed).toBe(false);
    expect(judgeScan(outcome('never', [], { command: { command: 'grype', code: 0 } })).passed).toBe(true);
  });
});

describe('scan: the report', () => {
  const openssl = { package: 'openssl', installed: '3.0.1-r0', fixed: '3.0.2-r0', url: 'https://nvd.nist.gov/vuln/detail/CVE-2024-0001' };
  const multiPlatform = outcome(
    'HIGH',
    [
      {
        platform: 'linux/amd64',
        digest: `sha256:${'b'.repeat(64)}`,
        findings: [
          finding('CVE-2024-0001', 'CRITICAL', openssl),
          finding('CVE-2024-0002', 'MEDIUM', { package: 'zlib', installed: '1.2|3' }),
          finding('CVE-2024-0003', 'HIGH'),
        ],
      },
      { platform: 'linux/arm64', digest: `sha256:${'c'.repeat(64)}`, findings: [finding('CVE-2024-0001', 'CRITICAL', openssl)] },
    ],
    { command: { command: 'grype "$BUILDKIT_IMAGE_DIGEST"', code: 0 } },
    ['CVE-2024-0003'],
  );

  test('a failed gate: an error annotation naming the findings that failed it', () => {
    const annotation = scanAnnotation(multiPlatform, judgeScan(multiPlatform), ':docker: Build <app>');
    expect(annotation.style).toBe('error');
    expect(annotation.body).toMatchSnapshot();
  });

  test('a clean image: an info annotation', () => {
    const clean = outcome('HIGH', [{ digest, findings: [finding('CVE-1', 'LOW')] }]);
    const annotation = scanAnnotation(clean, judgeScan(clean));
    expect(annotation.style).toBe('info');
    expect(annotation.body).toMatchSnapshot();
  });

  test('report only, with a scan that did not finish: a warning', () => {
    const timedOut = outcome('never', [{ digest, findings: [], error: 'the scan did not complete within 60 s (scan.timeout); last status IN_PROGRESS' }]);
    const annotation = scanAnnotation(timedOut, judgeScan(timedOut));
    expect(annotation.style).toBe('warning');
    expect(annotation.body).toContain('The scan did not finish:');
  });

  test('more than ten findings: the ten most severe, and how many more', () => {
    const many = outcome('never', [{ digest, findings: Array.from({ length: 12 }, (_, i) => finding(`CVE-${100 + i}`, i === 11 ? 'CRITICAL' : 'LOW')) }]);
    const body = scanAnnotation(many, judgeScan(many)).body;
    expect(body).toContain('| CRITICAL | CVE-111 |');
    expect(body).not.toContain('CVE-110');
    expect(body).toContain('and 2 more.');
  });

  test('meta-data: compact JSON with the counts, platforms, the failing ids and the command', () => {
    expect(JSON.parse(scanMetaData(multiPlatform, judgeScan(multiPlatform)))).toEqual({
      result: 'failed',
      failOn: 'HIGH',
      repository: `${ecrHost}/app`,
      digest,
      scanner: 'ecr-basic',
      counts: { CRITICAL: 1, HIGH: 1, MEDIUM: 1, LOW: 0, INFORMATIONAL: 0, UNDEFINED: 0 },
      platforms: {
        'linux/amd64': { CRITICAL: 1, HIGH: 1, MEDIUM: 1, LOW: 0, INFORMATIONAL: 0, UNDEFINED: 0 },
        'linux/arm64': { CRITICAL: 1, HIGH: 0, MEDIUM: 0, LOW: 0, INFORMATIONAL: 0, UNDEFINED: 0 },
      },
      failing: ['CVE-2024-0001'],
      ignored: 1,
      command: { exit: 0 },
    });
    expect(scanMetaData(multiPlatform, judgeScan(multiPlatform))).not.toMatch(/\s/);
  });
});

describe('scan.command in the command hook', () => {
  const scanner = 'grype "$BUILDKIT_IMAGE_DIGEST"';
  const runs = (exit: number) =>
    fakeRuntime((argv, options) => (argv.includes(scanner) ? { code: options.env?.BUILDKIT_IMAGE_DIGEST === digest ? exit : 99 } : buildWritesMetadata(argv)));

  test('runs after the build with the digest and refs; a non-zero exit fails the step before its command', async () => {
    const fake = runs(3);
    const hook = await commandHook({ image: 'app', scan: { command: scanner } }, fake);
    expect(hook.code).toBe(1);
    const shells = fake.calls.filter((call) => call.argv[0] === '/bin/bash');
    expect(shells.map((call) => call.argv)).toEqual([['/bin/bash', '-e', '-c', scanner]]);
    expect(shells[0]?.options.env).toMatchObject({ BUILDKIT_IMAGE_DIGEST: digest, BUILDKIT_IMAGE_REFS: 'app:latest' });
    expect(hook.log).toContain('buildkit: error: scan: scan.command failed (exit 3)');
    expect(JSON.parse(hook.metaData['buildkit.app.scan'] ?? '')).toEqual({ result: 'failed', failOn: 'never', command: { exit: 3 } });
    expect(hook.annotations.find((a) => a.context === 'buildkit-app-scan')).toMatchObject({ style: 'error' });
  });

  test('a zero exit lets the step command run', async () => {
    const fake = runs(0);
    const hook = await commandHook({ image: 'app', scan: { command: scanner } }, fake);
    expect(hook.code).toBe(0);
    expect(fake.calls.filter((call) => call.argv[0] === '/bin/bash').map((call) => call.argv[3])).toEqual([scanner, 'smoke-test']);
  });

  test('dry-run prints the scan and runs nothing', async () => {
    const fake = fakeRuntime();
    const hook = await commandHook({ image: `${ecrHost}/app`, push: true, 'dry-run': true, scan: { ecr: true, 'fail-on': 'HIGH', command: scanner } }, fake);
    expect(hook.code).toBe(0);
    expect(hook.log).toContain(`then Amazon ECR scans ${ecrHost}/app@<digest> (fail on HIGH or above; waiting up to 600 s)`);
    expect(hook.log).toContain(`then scan.command: ${scanner}`);
    expect(fake.calls.filter((call) => call.argv[0] === '/bin/bash')).toEqual([]);
  });
});

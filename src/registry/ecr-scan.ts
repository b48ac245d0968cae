import {
  BatchGetImageCommand,
  DescribeImageScanFindingsCommand,
  DescribeImageScanFindingsCommandOutput,
  ECRClient,
  EnhancedImageScanFinding,
  GetRegistryScanningConfigurationCommand,
  ImageScanFinding,
  RegistryScanningRule,
  StartImageScanCommand,
} from '@aws-sdk/client-ecr';
import { EcrScanRepository } from '../plan/scan-plan';
import { Finding, PlatformScan, Severity, severities } from '../report/scan-report';
import { EcrLoginOptions, awsCredentials, awsErrorText, maxAttempts } from './ecr-login';

/**
 * Amazon ECR image scanning of a pushed digest: basic scanning (started here unless scan on
 * push already started it) or enhanced scanning (Amazon Inspector scans by itself), polled
 * with backoff until complete. An index is scanned platform by platform.
 */

export class EcrScanError extends Error {}

export interface EcrScanOptions extends EcrLoginOptions {
  timeoutMs: number;
  sleep(ms: number): Promise<void>;
  cancelled(): boolean;
  log(line: string): void;
}

export interface EcrScan {
  scanning: 'basic' | 'enhanced';
  images: PlatformScan[];
}

/** One ECR request, named by the permission it needs; aborted when the scan's time is up. */
type Call = <T>(permission: string, send: (client: ECRClient, options: { abortSignal: AbortSignal }) => Promise<T>) => Promise<T>;

const manifestTypes = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];
const waiting = new Set(['IN_PROGRESS', 'PENDING']);
const done = new Set(['COMPLETE', 'ACTIVE']);
const firstPollMs = 1000;
const maxPollMs = 15_000;
/** With scan on push, how many polls find no scan before this starts one itself. */
const pushScanPolls = 2;

export async function scanEcrImage(target: EcrScanRepository, digest: string, options: EcrScanOptions): Promise<EcrScan> {
  const { registry, repository } = target;
  const name = `${registry.host}/${repository}`;
  const now = options.now ?? Date.now;
  const deadline = now() + options.timeoutMs;
  const { credentials, source } = await awsCredentials(target.assumeRole, registry.region, registry.host, options);
  const caller =
    (client: ECRClient): Call =>
    async (permission, send) => {
      try {
        // A request that hangs must not outlive scan.timeout (the SDK's own limit is minutes per attempt).
        return await send(client, { abortSignal: AbortSignal.timeout(Math.max(1000, Math.round(deadline - now()))) });
      } catch (error) {
        if ((error as Error).name === 'AbortError') throw new EcrScanError(timedOut(options, 'no answer from ECR'));
        throw new EcrScanError(awsMessage(error, permission, source));
      }
    };
  const call = caller(new ECRClient({ region: registry.region, credentials, maxAttempts }));
  // The SDK retries LimitExceededException as throttling, for seconds; for a start it means "scanned already".
  const callOnce = caller(new ECRClient({ region: registry.region, credentials, maxAttempts: 1 }));
  const ids = { registryId: registry.registryId, repositoryName: repository };
  const setup = await scanningSetup(call, ids, options);
  if (setup.known && setup.scanning === 'enhanced' && !setup.automatic) {
    throw new EcrScanError(
      `enhanced scanning (Amazon Inspector) is on for ${registry.host}, but no scanning rule matches ${repository}, so Inspector will not scan it; add a rule for it`,
    );
  }
  const images = await platformImages(call, ids, digest, name);
  options.log(`scanning ${name}@${digest} with ${setup.scanning === 'enhanced' ? 'enhanced scanning (Amazon Inspector)' : 'basic scanning'}`);
  const scan: Scan = { call, callOnce, ids, options, now, deadline, ...setup };
  const scanned = await Promise.all(images.map((image) => scanOne(scan, image)));
  return { scanning: scan.scanning, images: scanned };
}

interface ScanningSetup {
  scanning: 'basic' | 'enhanced';
  /** Scan on push (or Inspector's continuous scanning) scans this repository without StartImageScan. */
  automatic: boolean;
  /** The configuration read is the target registry's (not another account's, nor a guess). */
  known: boolean;
}

const assumeBasic = (options: EcrScanOptions, why: string): ScanningSetup => {
  options.log(`${why}; assuming basic scanning (an enhanced-scanning registry is found out when StartImageScan is refused)`);
  return { scanning: 'basic', automatic: false, known: false };
};

async function scanningSetup(call: Call, ids: { registryId: string; repositoryName: string }, options: EcrScanOptions): Promise<ScanningSetup> {
  let response;
  try {
    response = await call('ecr:GetRegistryScanningConfiguration', (client, o) => client.send(new GetRegistryScanningConfigurationCommand({}), o));
  } catch (error) {
    // Reading the registry's configuration is a nicety (a permission of its own, not on every ECR-compatible endpoint).
    if (!(error instanceof EcrScanError)) throw error;
    return assumeBasic(options, `cannot read the registry scanning configuration (${error.message})`);
  }
  // It describes the caller's own registry: a push to another account's registry cannot read that one's.
  if (response.registryId && response.registryId !== ids.registryId) {
    return assumeBasic(options, `the scanning configuration readable is account ${response.registryId}'s, not ${ids.registryId}'s`);
  }
  const config = response.scanningConfiguration;
  const scanning = config?.scanType === 'ENHANCED' ? 'enhanced' : 'basic';
  const frequencies = scanning === 'enhanced' ? ['SCAN_ON_PUSH', 'CONTINUOUS_SCAN'] : ['SCAN_ON_PUSH'];
  const automatic = (config?.rules ?? []).some((rule) => frequencies.includes(rule.scanFrequency ?? '') && matches(rule, ids.repositoryName));
  return { scanning, automatic, known: true };
}

/** ECR's repository filters: `*` matches any run of characters. */
function matches(rule: RegistryScanningRule, repository: string): boolean {
  return (rule.repositoryFilters ?? []).some((f) => {
    const pattern = (f.filter ?? '').replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
    return new RegExp(`^${pattern}$`).test(repository);
  });
}

/** The manifests to scan: the image itself, or each platform of an index (attestations left out). */
async function platformImages(call: Call, ids: { registryId: string; repositoryName: string }, digest: string, name: string): Promise<PlatformScan[]> {
  const response = await call('ecr:BatchGetImage', (client, o) =>
    client.send(new BatchGetImageCommand({ ...ids, imageIds: [{ imageDigest: digest }], acceptedMediaTypes: manifestTypes }), o),
  );
  const text = response.images?.[0]?.imageManifest;
  if (!text) {
    const failure = response.failures?.[0];
    throw new EcrScanError(`${name}@${digest} is not in the repository: ${failure?.failureCode ?? 'no manifest'}: ${failure?.failureReason ?? ''}`.trim());
  }
  let manifest: { manifests?: IndexEntry[] };
  try {
    manifest = JSON.parse(text) as typeof manifest;
  } catch {
    throw new EcrScanError(`${name}@${digest}: ECR returned a manifest that is not JSON`);
  }
  if (!manifest.manifests) return [{ digest, findings: [] }];
  const images = manifest.manifests.filter(
    (entry) => entry.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest' && entry.platform?.os !== 'unknown',
  );
  if (images.length === 0) throw new EcrScanError(`${name}@${digest} is an index with no image to scan (only attestations)`);
  return images.map((entry) => ({ digest: entry.digest, platform: platformOf(entry), findings: [] }));
}

interface IndexEntry {
  digest: string;
  platform?: { os?: string; architecture?: string; variant?: string };
  annotations?: Record<string, string>;
}

const platformOf = (entry: IndexEntry) => [entry.platform?.os, entry.platform?.architecture, entry.platform?.variant].filter(Boolean).join('/') || undefined;

/** The scan of one image; `scanning` turns to enhanced when StartImageScan says so. */
interface Scan extends ScanningSetup {
  call: Call;
  callOnce: Call;
  ids: { registryId: string; repositoryName: string };
  options: EcrScanOptions;
  now: () => number;
  deadline: number;
}

/** Polls one manifest's scan to its end: findings, or the error that ended it. */
async function scanOne(scan: Scan, image: PlatformScan): Promise<PlatformScan> {
  const { options } = scan;
  const { now } = scan;
  const what = image.platform ?? 'image';
  let started = false;
  let missing = 0;
  let last = 'not started';
  for (let attempt = 0; ; attempt++) {
    if (options.cancelled()) return { ...image, error: 'cancelled' };
    try {
      const status = await describe(scan, image.digest);
      if (status === undefined) {
        missing++;
        if (scan.scanning === 'basic' && !started && (!scan.automatic || missing >= pushScanPolls)) started = await start(scan, image.digest);
      } else if (done.has(status.status) && hasResult(scan, status)) {
        const findings = await allFindings(scan, image.digest, status.first);
        options.log(`${what}: the scan is ${status.status.toLowerCase()}: ${findings.length} finding(s)`);
        return { ...image, findings };
      } else if (!waiting.has(status.status) && !done.has(status.status)) {
        return { ...image, error: `${status.status}: ${status.description}` };
      } else if (status.status !== last) {
        options.log(`${what}: ${status.status.toLowerCase().replace('_', ' ')}`);
      }
      last = status?.status ?? last;
    } catch (error) {
      if (!(error instanceof EcrScanError)) throw error;
      return { ...image, error: error.message };
    }
    const left = scan.deadline - now();
    if (left <= 0) return { ...image, error: timedOut(options, `last status ${last}`) };
    await options.sleep(Math.min(left, Math.min(maxPollMs, firstPollMs * 1.5 ** attempt)));
  }
}

const timedOut = (options: EcrScanOptions, detail: string) =>
  `the scan did not complete within ${Math.round(options.timeoutMs / 1000)} s (scan.timeout); ${detail}`;

/**
 * Inspector answers ACTIVE (even COMPLETE) before its first result: no completion time, no
 * findings yet. Only a scan with a completion time is over (a basic COMPLETE always has one).
 */
function hasResult(scan: Scan, status: Status): boolean {
  return status.first.imageScanFindings?.imageScanCompletedAt !== undefined || (scan.scanning === 'basic' && status.status === 'COMPLETE');
}

type Status = { status: string; description: string; first: DescribeImageScanFindingsCommandOutput };

/** The scan's status, or undefined when there is no scan of the image yet. */
async function describe(scan: Scan, digest: string): Promise<Status | undefined> {
  try {
    const first = await scan.call('ecr:DescribeImageScanFindings', (client, o) =>
      client.send(new DescribeImageScanFindingsCommand({ ...scan.ids, imageId: { imageDigest: digest }, maxResults: 1000 }), o),
    );
    return { status: first.imageScanStatus?.status ?? 'IN_PROGRESS', description: first.imageScanStatus?.description ?? '', first };
  } catch (error) {
    if (error instanceof EcrScanError && error.message.startsWith('ScanNotFoundException')) return undefined;
    throw error;
  }
}

/**
 * Starts a basic scan; a scan already running (or done today) is as good. False when
 * throttled: the next poll tries again. A registry whose configuration could not be read may
 * turn out to scan with Inspector (ValidationException): then the scan waits for it.
 */
async function start(scan: Scan, digest: string): Promise<boolean> {
  try {
    await scan.callOnce('ecr:StartImageScan', (client, o) => client.send(new StartImageScanCommand({ ...scan.ids, imageId: { imageDigest: digest } }), o));
  } catch (error) {
    if (!(error instanceof EcrScanError)) throw error;
    if (/^Throttl/.test(error.message)) return false;
    if (!scan.known && error.message.startsWith('ValidationException')) {
      scan.options.log('StartImageScan was refused: the registry scans with Amazon Inspector (enhanced scanning); waiting for it');
      scan.scanning = 'enhanced';
      scan.known = true;
    } else if (!error.message.startsWith('LimitExceededException')) {
      throw error;
    }
  }
  return true;
}

async function allFindings(scan: Scan, digest: string, first: DescribeImageScanFindingsCommandOutput): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (let page: DescribeImageScanFindingsCommandOutput | undefined = first; page;) {
    findings.push(...(page.imageScanFindings?.findings ?? []).map(basicFinding));
    findings.push(...(page.imageScanFindings?.enhancedFindings ?? []).filter((f) => (f.status ?? 'ACTIVE') === 'ACTIVE').map(enhancedFinding));
    const nextToken: string | undefined = page.nextToken;
    page = nextToken
      ? await scan.call('ecr:DescribeImageScanFindings', (client, o) =>
          client.send(new DescribeImageScanFindingsCommand({ ...scan.ids, imageId: { imageDigest: digest }, maxResults: 1000, nextToken }), o),
        )
      : undefined;
  }
  return findings;
}

function severityOf(value: string | undefined): Severity {
  const upper = (value ?? '').toUpperCase();
  return (severities as readonly string[]).includes(upper) ? (upper as Severity) : 'UNDEFINED';
}

function basicFinding(finding: ImageScanFinding): Finding {
  const attribute = (key: string) => finding.attributes?.find((a) => a.key === key)?.value;
  return {
    id: finding.name ?? 'unnamed',
    severity: severityOf(finding.severity),
    package: attribute('package_name'),
    installed: attribute('package_version'),
    url: finding.uri,
  };
}

function enhancedFinding(finding: EnhancedImageScanFinding): Finding {
  const details = finding.packageVulnerabilityDetails;
  const pkg = details?.vulnerablePackages?.[0];
  const fixed = pkg?.fixedInVersion && pkg.fixedInVersion !== 'NotAvailable' ? pkg.fixedInVersion : undefined;
  return {
    id: details?.vulnerabilityId ?? finding.title ?? 'unnamed',
    severity: severityOf(finding.severity),
    package: pkg?.name,
    installed: pkg?.version && (pkg.release ? `${pkg.version}-${pkg.release}` : pkg.version),
    fixed,
    url: details?.sourceUrl ?? finding.remediation?.recommendation?.url,
  };
}

/** `AccessDeniedException: ... (allow ecr:StartImageScan; credentials: ...)`: the AWS error, and what to grant. */
function awsMessage(error: unknown, permission: string, source: string): string {
  const grant = /AccessDenied/.test((error as Error).name) ? ` (the credentials, ${source}, need ${permission} on the repository)` : '';
  return `${awsErrorText(error)}${grant}`;
}

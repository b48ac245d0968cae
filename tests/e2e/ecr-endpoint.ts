import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

/**
 * A stand-in for the ECR, ECR Public and STS APIs on 127.0.0.1, enough for the real AWS SDK
 * (AWS_ENDPOINT_URL_ECR, AWS_ENDPOINT_URL_ECR_PUBLIC, AWS_ENDPOINT_URL_STS) to get registry
 * tokens, assume roles, read manifests (BatchGetImage) and image scans. Signatures are not checked;
 * the access key id they name is recorded.
 */

export type Service = 'ecr' | 'ecr-public' | 'sts';

export interface EndpointCall {
  service: Service;
  action: string;
  params: Record<string, unknown>;
  /** From the SigV4 Authorization header's `Credential=AKID/...`; undefined when unsigned. */
  accessKeyId?: string;
  /** The X-Amz-Security-Token header (temporary credentials), when sent. */
  securityToken?: string;
  /** The HTTP status the call was answered with. */
  status: number;
}

export interface AssumedCredentials {
  action: 'AssumeRole' | 'AssumeRoleWithWebIdentity';
  roleArn: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

/** A basic finding ({name, severity, uri, description, attributes: [{key, value}]}) or an enhanced one (Inspector's shape), served as given. */
export type ScanFinding = Record<string, unknown>;

export interface ScanningState {
  /** GetRegistryScanningConfiguration's answer; default BASIC with no rules. */
  scanType: 'BASIC' | 'ENHANCED';
  rules: Array<{ scanFrequency: 'SCAN_ON_PUSH' | 'CONTINUOUS_SCAN' | 'MANUAL'; repositoryFilters: Array<{ filter: string; filterType: 'WILDCARD' }> }>;
  /** How many DescribeImageScanFindings calls of a started scan answer IN_PROGRESS (BASIC) / PENDING (ENHANCED) before it completes; default 0. */
  pollsUntilComplete: number;
  /** Then, how many more answer the done status (ACTIVE, as Inspector does) with no result yet: no findings, no completion time; default 0. */
  pollsWithoutResult: number;
  /** A DescribeImageScanFindings of an image with no scan starts one (as scan on push or Inspector would) instead of answering ScanNotFoundException; default false. */
  autoStart: boolean;
}

export interface ImageScan {
  /** DescribeImageScanFindings calls (first pages only) so far. */
  describes: number;
  startedBy: 'StartImageScan' | 'push';
}

export interface EcrEndpoint {
  /** http://127.0.0.1:PORT */
  url: string;
  calls: EndpointCall[];
  /** Every token (the password part) handed out, oldest first. */
  tokens: string[];
  /** Every set of credentials STS handed out, oldest first. */
  assumed: AssumedCredentials[];
  /** The next n calls (of that service, or of any) are throttled. */
  throttleNext(n: number, service?: Service): void;
  /** The next call of that service (and of that action, when given) fails with this AWS error code (HTTP 400; 403 for STS's AccessDenied). */
  failNext(service: Service, code: string, message?: string, action?: string): void;
  /** Seconds a new ECR token lives (default 12 h); expiresAt follows it. */
  tokenLifetimeSeconds: number;
  /** Called with each new registry token (one per GetAuthorizationToken call). */
  onToken?: (token: string, service: 'ecr' | 'ecr-public') => void;
  /** The registry's scanning configuration and how its scans progress. */
  scanning: ScanningState;
  /**
   * Findings of an image once its scan completes, by `${repositoryName}@${digest}`, else by `${repositoryName}` for any image of it (a digest
   * a test cannot know before the build); none → a complete scan with no findings. Basic findings are
   * returned in imageScanFindings.findings, enhanced ones (when scanType is ENHANCED) in imageScanFindings.enhancedFindings.
   */
  findings: Map<string, ScanFinding[]>;
  /**
   * A final status other than COMPLETE for an image, e.g. { status: 'UNSUPPORTED_IMAGE', description: '...' } or 'FAILED'; StartImageScan of an
   * image whose final status is UNSUPPORTED_IMAGE throws UnsupportedImageTypeException instead.
   */
  finalStatus: Map<string, { status: string; description: string }>;
  /** Scans that exist, by `${repositoryName}@${digest}`: started by StartImageScan, autoStart or startScan. */
  scans: Map<string, ImageScan>;
  /** A scan that started without StartImageScan (scan on push). */
  startScan(repository: string, digest: string): void;
  /** Manifests BatchGetImage answers with, by `${repositoryName}@${digest}` (and `${repositoryName}:${tag}`): { mediaType, manifest (the JSON text) }. */
  images: Map<string, { mediaType: string; manifest: string }>;
  /** Asked when `images` has no entry: e.g. reads the manifest from a real registry. undefined → ImageNotFound failure. */
  imageSource?: (repository: string, reference: string) => Promise<{ mediaType: string; manifest: string; digest: string } | undefined>;
  stop(): Promise<void>;
}

interface ImageId {
  imageDigest?: string;
  imageTag?: string;
}

/** The members of the ECR requests this stand-in reads. */
interface EcrParams {
  registryIds?: string[];
  registryId?: string;
  repositoryName?: string;
  imageId?: ImageId;
  imageIds?: ImageId[];
  maxResults?: number;
  nextToken?: string;
}

type EcrAction = (p: EcrParams, region: string) => object | Promise<object>;

/** An AWS error an EcrAction answers with (HTTP 400). */
class AwsError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const ecrTarget = 'AmazonEC2ContainerRegistry_V20150921.';
const publicTarget = 'SpencerFrontendService.';
const stsNamespace = 'https://sts.amazonaws.com/doc/2011-06-15/';
const defaultAccount = '123456789012';

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const upper = (n: number) => hex(n).toUpperCase().slice(0, n);
const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** ImageScanStatus while a scan runs and once it is done, by scan type. */
const scanStatus = {
  BASIC: {
    running: { status: 'IN_PROGRESS', description: 'The scan is in progress' },
    done: { status: 'COMPLETE', description: 'The scan was completed successfully.' },
  },
  ENHANCED: {
    running: { status: 'PENDING', description: 'Pending initial scan' },
    done: { status: 'ACTIVE', description: 'Continuous scan is selected for image.' },
  },
};

/** `Credential=AKID/20261130/us-east-1/ecr/aws4_request` → its parts. */
function credentialScope(req: IncomingMessage): { accessKeyId?: string; region?: string; service?: string } {
  const match = /Credential=([^/,\s]+)\/\d+\/([^/]+)\/([^/]+)\/aws4_request/.exec(req.headers.authorization ?? '');
  return match ? { accessKeyId: match[1], region: match[2], service: match[3] } : {};
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** The `sub` claim of a JWT, or a fixed subject when the token is not one. */
function jwtSubject(token: string): string {
  try {
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub?: unknown };
    if (typeof claims.sub === 'string') return claims.sub;
  } catch {
    // not a JWT
  }
  return 'web-identity-subject';
}

export async function startEcrEndpoint(): Promise<EcrEndpoint> {
  const throttles: Partial<Record<Service | 'any', number>> = {};
  const failures: Record<Service, Array<{ code: string; message: string; action?: string }>> = { ecr: [], 'ecr-public': [], sts: [] };
  // When each scan completed, so that every page of its findings names the same time.
  const completedAt = new WeakMap<ImageScan, number>();

  const endpoint: EcrEndpoint = {
    url: '',
    calls: [],
    tokens: [],
    assumed: [],
    tokenLifetimeSeconds: 12 * 3600,
    throttleNext(n, service) {
      throttles[service ?? 'any'] = (throttles[service ?? 'any'] ?? 0) + n;
    },
    failNext(service, code, message, action) {
      failures[service].push({ code, message: message ?? `${code} (injected by the test)`, action });
    },
    scanning: { scanType: 'BASIC', rules: [], pollsUntilComplete: 0, pollsWithoutResult: 0, autoStart: false },
    findings: new Map(),
    finalStatus: new Map(),
    scans: new Map(),
    startScan(repository, digest) {
      endpoint.scans.set(`${repository}@${digest}`, { describes: 0, startedBy: 'push' });
    },
    images: new Map(),
    stop: async () => undefined,
  };

  const newToken = (service: 'ecr' | 'ecr-public') => {
    const token = hex(20);
    endpoint.tokens.push(token);
    endpoint.onToken?.(token, service);
    return { authorizationToken: Buffer.from(`AWS:${token}`).toString('base64'), expiresAt: (Date.now() + endpoint.tokenLifetimeSeconds * 1000) / 1000 };
  };

  const json = (res: ServerResponse, status: number, body: object) => {
    res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.1', 'x-amzn-RequestId': randomUUID() });
    res.end(JSON.stringify(body));
  };
  const xml = (res: ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'Content-Type': 'text/xml' });
    res.end(body);
  };
  const error = (res: ServerResponse, service: Service, status: number, code: string, message: string) => {
    if (service !== 'sts') return json(res, status, { __type: code, message });
    const fault = status >= 500 ? 'Receiver' : 'Sender';
    xml(
      res,
      status,
      `<ErrorResponse xmlns="${stsNamespace}"><Error><Type>${fault}</Type><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error>` +
        `<RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
    );
  };

  const assume = (action: AssumedCredentials['action'], params: Record<string, string>): string => {
    const roleArn = params.RoleArn ?? `arn:aws:iam::${defaultAccount}:role/unnamed`;
    const session = params.RoleSessionName ?? 'session';
    const credentials = { action, roleArn, accessKeyId: `ASIA${upper(16)}`, secretAccessKey: hex(20), sessionToken: `FwoG${hex(64)}` };
    endpoint.assumed.push(credentials);
    const expiration = new Date(Date.now() + Number(params.DurationSeconds ?? 3600) * 1000).toISOString();
    const account = /^arn:aws:iam::(\d+):/.exec(roleArn)?.[1] ?? defaultAccount;
    const roleName = roleArn.split('/').pop() ?? 'role';
    const identity =
      action === 'AssumeRoleWithWebIdentity'
        ? `<SubjectFromWebIdentityToken>${xmlEscape(jwtSubject(params.WebIdentityToken ?? ''))}</SubjectFromWebIdentityToken>` +
          `<Audience>sts.amazonaws.com</Audience><Provider>${xmlEscape(params.ProviderId ?? 'agent.buildkite.com')}</Provider>`
        : '';
    return (
      `<${action}Response xmlns="${stsNamespace}"><${action}Result>${identity}` +
      `<Credentials><AccessKeyId>${credentials.accessKeyId}</AccessKeyId><SecretAccessKey>${credentials.secretAccessKey}</SecretAccessKey>` +
      `<SessionToken>${credentials.sessionToken}</SessionToken><Expiration>${expiration}</Expiration></Credentials>` +
      `<AssumedRoleUser><Arn>arn:aws:sts::${account}:assumed-role/${xmlEscape(roleName)}/${xmlEscape(session)}</Arn>` +
      `<AssumedRoleId>AROA${upper(17)}:${xmlEscape(session)}</AssumedRoleId></AssumedRoleUser>` +
      `</${action}Result><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`
    );
  };

  /** An image's manifest from `images` (by digest, or by tag with the digest of its text), else from imageSource. */
  const findImage = async (repository: string, id: ImageId) => {
    const stored = endpoint.images.get(id.imageDigest ? `${repository}@${id.imageDigest}` : `${repository}:${id.imageTag}`);
    if (stored) return { ...stored, digest: id.imageDigest ?? `sha256:${createHash('sha256').update(stored.manifest).digest('hex')}` };
    const reference = id.imageDigest ?? id.imageTag;
    return reference === undefined ? undefined : endpoint.imageSource?.(repository, reference);
  };

  /** The image a scan request names, and its key in scans, findings and finalStatus. */
  const scanned = (p: EcrParams) => {
    const repositoryName = p.repositoryName ?? '';
    const digest = p.imageId?.imageDigest;
    if (!digest) throw new AwsError('InvalidParameterException', 'this stand-in needs imageId.imageDigest');
    const head = { registryId: p.registryId ?? defaultAccount, repositoryName, imageId: p.imageId };
    return { head, digest, key: `${repositoryName}@${digest}` };
  };

  const ecrActions: Record<string, EcrAction> = {
    GetAuthorizationToken: (p, region) => {
      // One token per call, valid for every registry asked for (as ECR's is for the caller's registries).
      const token = newToken('ecr');
      const ids = p.registryIds && p.registryIds.length > 0 ? p.registryIds : [defaultAccount];
      return { authorizationData: ids.map((id) => ({ ...token, proxyEndpoint: `https://${id}.dkr.ecr.${region}.amazonaws.com` })) };
    },
    GetRegistryScanningConfiguration: () => ({
      registryId: defaultAccount,
      scanningConfiguration: { scanType: endpoint.scanning.scanType, rules: endpoint.scanning.rules },
    }),
    BatchGetImage: async (p) => {
      const registryId = p.registryId ?? defaultAccount;
      const repositoryName = p.repositoryName ?? '';
      const images: object[] = [];
      const missing: object[] = [];
      for (const id of p.imageIds ?? []) {
        const image = await findImage(repositoryName, id);
        if (!image) {
          missing.push({ imageId: id, failureCode: 'ImageNotFound', failureReason: 'Requested image not found' });
          continue;
        }
        const imageId = { imageDigest: image.digest, imageTag: id.imageTag };
        images.push({ registryId, repositoryName, imageId, imageManifest: image.manifest, imageManifestMediaType: image.mediaType });
      }
      return { images, failures: missing };
    },
    StartImageScan: (p) => {
      const { head, key } = scanned(p);
      if (endpoint.scanning.scanType === 'ENHANCED') {
        throw new AwsError('ValidationException', 'This operation is not supported for registries with enhanced scanning');
      }
      const final = endpoint.finalStatus.get(key);
      if (final?.status === 'UNSUPPORTED_IMAGE') throw new AwsError('UnsupportedImageTypeException', final.description);
      if (endpoint.scans.has(key)) throw new AwsError('LimitExceededException', 'The scan quota per image has been exceeded. Wait and try again.');
      endpoint.scans.set(key, { describes: 0, startedBy: 'StartImageScan' });
      return { ...head, imageScanStatus: scanStatus.BASIC.running };
    },
    DescribeImageScanFindings: (p) => {
      const { head, digest, key } = scanned(p);
      if (!endpoint.scans.has(key) && endpoint.scanning.autoStart) endpoint.startScan(head.repositoryName, digest);
      const scan = endpoint.scans.get(key);
      if (!scan) {
        const where = `in the repository with name '${head.repositoryName}' in the registry with id '${head.registryId}'`;
        throw new AwsError('ScanNotFoundException', `Image scan does not exist for the image with '{imageDigest:${digest}}' ${where}`);
      }
      if (p.nextToken === undefined) scan.describes++;
      const { scanType, pollsUntilComplete, pollsWithoutResult } = endpoint.scanning;
      if (scan.describes <= pollsUntilComplete) return { ...head, imageScanStatus: scanStatus[scanType].running };
      if (scan.describes <= pollsUntilComplete + pollsWithoutResult) return { ...head, imageScanStatus: scanStatus[scanType].done, imageScanFindings: {} };
      const final = endpoint.finalStatus.get(key);
      if (final) return { ...head, imageScanStatus: final };

      const completed = completedAt.get(scan) ?? Date.now() / 1000;
      completedAt.set(scan, completed);
      const all = endpoint.findings.get(key) ?? endpoint.findings.get(head.repositoryName) ?? [];
      const counts: Record<string, number> = {};
      for (const { severity } of all) counts[String(severity)] = (counts[String(severity)] ?? 0) + 1;
      const offset = p.nextToken ? Number(Buffer.from(p.nextToken, 'base64').toString('utf8')) : 0;
      const end = offset + (p.maxResults ?? 100);
      return {
        ...head,
        imageScanStatus: scanStatus[scanType].done,
        imageScanFindings: {
          imageScanCompletedAt: completed,
          vulnerabilitySourceUpdatedAt: completed - 3600,
          findingSeverityCounts: counts,
          [scanType === 'ENHANCED' ? 'enhancedFindings' : 'findings']: all.slice(offset, end),
        },
        nextToken: end < all.length ? Buffer.from(String(end)).toString('base64') : undefined,
      };
    },
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    const scope = credentialScope(req);
    const target = String(req.headers['x-amz-target'] ?? '');
    let service: Service;
    let action: string;
    let params: Record<string, unknown>;
    if (target.startsWith(ecrTarget) || target.startsWith(publicTarget)) {
      service = target.startsWith(ecrTarget) ? 'ecr' : 'ecr-public';
      action = target.slice(target.indexOf('.') + 1);
      params = body ? (JSON.parse(body) as Record<string, unknown>) : {};
    } else {
      service = scope.service === 'ecr' || scope.service === 'ecr-public' ? scope.service : 'sts';
      params = Object.fromEntries(new URLSearchParams(body));
      action = typeof params.Action === 'string' ? params.Action : target || `${req.method} ${req.url}`;
    }
    const known =
      (service === 'sts' && (action === 'AssumeRole' || action === 'AssumeRoleWithWebIdentity') && req.method === 'POST') ||
      (service === 'ecr' && Object.hasOwn(ecrActions, action)) ||
      (service === 'ecr-public' && action === 'GetAuthorizationToken');
    const call: EndpointCall = { service, action: known ? action : 'unknown', params, accessKeyId: scope.accessKeyId, status: 200 };
    const securityToken = req.headers['x-amz-security-token'];
    if (typeof securityToken === 'string') call.securityToken = securityToken;
    if (!known) call.params = { ...params, operation: action };
    endpoint.calls.push(call);
    const answer = (status: number) => (call.status = status);

    const throttleKey = (throttles[service] ?? 0) > 0 ? service : (throttles.any ?? 0) > 0 ? 'any' : undefined;
    if (throttleKey) {
      throttles[throttleKey] = (throttles[throttleKey] ?? 1) - 1;
      return error(res, service, answer(400), service === 'sts' ? 'Throttling' : 'ThrottlingException', 'Rate exceeded');
    }
    const at = failures[service].findIndex((failure) => failure.action === undefined || failure.action === action);
    const [failure] = at >= 0 ? failures[service].splice(at, 1) : [];
    if (failure) return error(res, service, answer(failure.code === 'AccessDenied' ? 403 : 400), failure.code, failure.message);
    if (!known) {
      return service === 'sts'
        ? error(res, service, answer(400), 'InvalidAction', `Could not find operation ${action} for version 2011-06-15`)
        : error(res, service, answer(400), 'UnknownOperationException', `Unknown operation ${action}`);
    }

    if (service === 'sts') return xml(res, answer(200), assume(action as AssumedCredentials['action'], params as Record<string, string>));
    if (service === 'ecr-public') return json(res, answer(200), { authorizationData: newToken('ecr-public') });
    let out: object;
    try {
      out = await (ecrActions[action] as EcrAction)(params as EcrParams, scope.region ?? 'us-east-1');
    } catch (err) {
      if (!(err instanceof AwsError)) throw err;
      return error(res, service, answer(400), err.code, err.message);
    }
    json(res, answer(200), out);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  endpoint.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  endpoint.stop = () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return endpoint;
}

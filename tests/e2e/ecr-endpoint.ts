import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

/**
 * A stand-in for the ECR, ECR Public and STS APIs on 127.0.0.1, enough for the real AWS SDK
 * (AWS_ENDPOINT_URL_ECR, AWS_ENDPOINT_URL_ECR_PUBLIC, AWS_ENDPOINT_URL_STS) to get registry
 * tokens and assume roles. Signatures are not checked; the access key id they name is recorded.
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
  /** The next call of that service fails with this AWS error code (HTTP 400; 403 for AccessDenied). */
  failNext(service: Service, code: string, message?: string): void;
  /** Seconds a new ECR token lives (default 12 h); expiresAt follows it. */
  tokenLifetimeSeconds: number;
  /** Called with each new registry token (one per GetAuthorizationToken call). */
  onToken?: (token: string, service: 'ecr' | 'ecr-public') => void;
  stop(): Promise<void>;
}

const ecrTarget = 'AmazonEC2ContainerRegistry_V20150921.';
const publicTarget = 'SpencerFrontendService.';
const stsNamespace = 'https://sts.amazonaws.com/doc/2011-06-15/';
const defaultAccount = '123456789012';

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const upper = (n: number) => hex(n).toUpperCase().slice(0, n);
const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

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
  const failures: Record<Service, Array<{ code: string; message: string }>> = { ecr: [], 'ecr-public': [], sts: [] };

  const endpoint: EcrEndpoint = {
    url: '',
    calls: [],
    tokens: [],
    assumed: [],
    tokenLifetimeSeconds: 12 * 3600,
    throttleNext(n, service) {
      throttles[service ?? 'any'] = (throttles[service ?? 'any'] ?? 0) + n;
    },
    failNext(service, code, message) {
      failures[service].push({ code, message: message ?? `${code} (injected by the test)` });
    },
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
      (service !== 'sts' && action === 'GetAuthorizationToken');
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
    const failure = failures[service].shift();
    if (failure) return error(res, service, answer(failure.code === 'AccessDenied' ? 403 : 400), failure.code, failure.message);
    if (!known) {
      return service === 'sts'
        ? error(res, service, answer(400), 'InvalidAction', `Could not find operation ${action} for version 2011-06-15`)
        : error(res, service, answer(400), 'UnknownOperationException', `Unknown operation ${action}`);
    }

    if (service === 'sts') return xml(res, answer(200), assume(action as AssumedCredentials['action'], params as Record<string, string>));
    if (service === 'ecr-public') return json(res, answer(200), { authorizationData: newToken('ecr-public') });
    // One token per call, valid for every registry asked for (as ECR's is for the caller's registries).
    const token = newToken('ecr');
    const ids = Array.isArray(params.registryIds) && params.registryIds.length > 0 ? (params.registryIds as string[]) : [defaultAccount];
    const region = scope.region ?? 'us-east-1';
    json(res, answer(200), {
      authorizationData: ids.map((id) => ({ ...token, proxyEndpoint: `https://${id}.dkr.ecr.${region}.amazonaws.com` })),
    });
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

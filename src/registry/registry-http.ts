import { existsSync, readFileSync, readdirSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { join } from 'node:path';
import { Readable, pipeline } from 'node:stream';
import { TLSSocket, rootCertificates } from 'node:tls';
import { Credentials, readCredentials } from './docker-credentials';
import { apiHostOf, isLocalHost } from './reference';
import { RegistryError, answerError } from './registry-error';

export interface RegistryAccess {
  /** The Docker config dir whose config.json holds the credentials (auths, credHelpers, credsStore), as the docker CLI reads it. */
  dockerConfigDir: string;
  /** The environment for credential helpers (PATH). */
  env: Record<string, string | undefined>;
  /** Docker's per-registry TLS dir: <certsDir>/<host[:port]>/*.crt are extra CAs, client.cert/client.key a client certificate. Default /etc/docker/certs.d. */
  certsDir?: string;
  signal?: AbortSignal;
  /** Per request: how long to wait for the connection or the next bytes of an answer; default 30 s. */
  timeoutMs?: number;
}

export interface Challenge {
  /** Lower case: `bearer`, `basic`. */
  scheme: string;
  params: Record<string, string>;
}

const challengePart = /\s*,?\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*)))?/y;

/** The challenges of WWW-Authenticate headers (RFC 7235): `Bearer realm="...",service="...", Basic realm="..."`. */
export function parseChallenges(headers: string[]): Challenge[] {
  const challenges: Challenge[] = [];
  for (const header of headers) {
    challengePart.lastIndex = 0;
    let match: RegExpExecArray | null;
    while (challengePart.lastIndex < header.length && (match = challengePart.exec(header))) {
      const [, token = '', quoted, bare] = match;
      const value = quoted === undefined ? bare : quoted.replace(/\\(.)/g, '$1');
      if (value === undefined) challenges.push({ scheme: token.toLowerCase(), params: {} });
      else if (challenges.length > 0) (challenges[challenges.length - 1] as Challenge).params[token.toLowerCase()] = value;
    }
  }
  return challenges;
}

export interface RegistryRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT';
  /** A path on the registry (`/v2/...`), or a URL it gave (an upload's Location). */
  target: string;
  headers?: Record<string, string | number>;
  /** A stream is sent once: authenticate the same scopes with an earlier request. */
  body?: Buffer | Readable;
  /** The token scopes the request needs: `repository:team/app:pull`. */
  scopes: string[];
  /** What errors name: the ref. */
  context: string;
}

/** A failure before the TLS session was up that is not about certificates: the server may speak plain HTTP. */
class HandshakeFailure extends RegistryError {}

const redirects = new Set([301, 302, 303, 307, 308]);
const maxRedirects = 5;
const untrustedServer =
  /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_UNTRUSTED)$/;
const refusedClient = /ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA)$/;

const basic = (c: Credentials) => `Basic ${Buffer.from(`${c.username ?? ''}:${c.password ?? ''}`).toString('base64')}`;

/** Whether url points at host[:port], comparing the way URL normalises (default ports). */
function sameOrigin(url: URL, apiHost: string): boolean {
  return new URL(`${url.protocol}//${apiHost}`).host === url.host;
}

// Errors are read by their shape: those of Node's internals may come from another realm (jest's VM contexts).
function isAbort(err: unknown): boolean {
  return (err as Error | undefined)?.name === 'AbortError';
}

/** The error's message; of OpenSSL's long form (`...:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:...`), the reason. */
function messageOf(err: unknown): string {
  const message = typeof (err as Error | undefined)?.message === 'string' ? (err as Error).message : String(err);
  const reason = /:SSL routines:[^:]*:([^:]+):/.exec(message)?.[1];
  return reason ? `TLS: ${reason}` : message.trim();
}

/** Token scopes (`repository:team/app:pull,push`), one per resource with every action asked for. */
export function mergeScopes(scopes: string[]): string[] {
  const actions = new Map<string, string[]>();
  for (const scope of scopes.filter((s) => s !== '')) {
    const colon = scope.lastIndexOf(':');
    const resource = colon > 0 ? scope.slice(0, colon) : scope;
    const known = actions.get(resource) ?? [];
    const added = colon > 0 ? scope.slice(colon + 1).split(',') : [];
    actions.set(resource, [...new Set([...known, ...added])]);
  }
  return [...actions].map(([resource, list]) => (list.length > 0 ? `${resource}:${list.join(',')}` : resource));
}

/** Docker's certs.d layout: *.crt are CAs (added to the system ones), a *.cert with its *.key is the client certificate. */
function tlsOptions(certsDir: string, host: string): https.RequestOptions {
  const dir = join(certsDir, host);
  if (!existsSync(dir)) return {};
  const files = readdirSync(dir).sort();
  const cas = files.filter((f) => f.endsWith('.crt')).map((f) => readFileSync(join(dir, f), 'utf8'));
  const cert = files.find((f) => f.endsWith('.cert') && files.includes(f.replace(/\.cert$/, '.key')));
  return {
    ...(cas.length > 0 ? { ca: [...rootCertificates, ...cas] } : {}),
    ...(cert ? { cert: readFileSync(join(dir, cert)), key: readFileSync(join(dir, cert.replace(/\.cert$/, '.key'))) } : {}),
  };
}

/** One call chain's connections, schemes, credentials and tokens, for every registry it talks to. Close it at the end. */
export class RegistrySession {
  private readonly agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
  private readonly schemes = new Map<string, string>();
  private readonly tls = new Map<string, https.RequestOptions>();
  private readonly credentials = new Map<string, Promise<Credentials>>();
  private readonly authorizations = new Map<string, string>();

  constructor(private readonly access: RegistryAccess) {}

  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  /**
   * Sends req to registry (Docker's name: docker.io, host:port). On 401 it answers the challenge
   * once (Basic, or a Bearer token for the scopes) and sends it again; the authorization is kept
   * for later requests with the same scopes. Follows redirects of GET and HEAD.
   */
  async request(registry: string, req: RegistryRequest): Promise<http.IncomingMessage> {
    const key = `${registry} ${req.scopes.join(' ')}`;
    const sent = this.authorizations.get(key);
    const res = await this.follow(registry, req, sent);
    if (res.statusCode !== 401 || req.body instanceof Readable) return res;
    let authorization: string | undefined;
    try {
      authorization = await this.authorize(registry, req, res);
    } catch (err) {
      res.resume();
      throw err;
    }
    if (authorization === undefined || authorization === sent) return res;
    res.resume();
    this.authorizations.set(key, authorization);
    return this.follow(registry, req, authorization);
  }

  /** The error for an answer the caller did not expect; for a 401, it names the credentials used. */
  async failure(registry: string, context: string, res: http.IncomingMessage): Promise<RegistryError> {
    const note = res.statusCode === 401 ? (await this.credentialsFor(registry)).source : undefined;
    const body = await this.body(res, 64 << 10, context).catch(() => Buffer.alloc(0));
    return answerError(context, res.statusCode ?? 0, res.statusMessage ?? '', body.toString('utf8'), note);
  }

  /** The whole answer, at most limit bytes. */
  async body(res: http.IncomingMessage, limit: number, context: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res) {
        size += (chunk as Buffer).length;
        if (size > limit) throw new RegistryError(`${context}: the answer is over ${limit} bytes`);
        chunks.push(chunk as Buffer);
      }
    } catch (err) {
      res.destroy();
      if (err instanceof RegistryError) throw err;
      throw this.networkError(err, context);
    }
    return Buffer.concat(chunks);
  }

  private credentialsFor(registry: string): Promise<Credentials> {
    let credentials = this.credentials.get(registry);
    if (!credentials) {
      credentials = readCredentials(registry, this.access.dockerConfigDir, this.access);
      this.credentials.set(registry, credentials);
    }
    return credentials;
  }

  private async authorize(registry: string, req: RegistryRequest, res: http.IncomingMessage): Promise<string | undefined> {
    const challenges = parseChallenges(res.headersDistinct['www-authenticate'] ?? []);
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    const credentials = await this.credentialsFor(registry);
    if (bearer) return `Bearer ${await this.token(bearer, req, credentials)}`;
    if (challenges.some((c) => c.scheme === 'basic') && credentials.username !== undefined) return basic(credentials);
    return undefined;
  }

  /** A token from the challenge's realm for the request's scopes (and the challenge's): GET with Basic credentials, or the OAuth form for an identity token. */
  private async token(challenge: Challenge, req: RegistryRequest, credentials: Credentials): Promise<string> {
    const { realm = '', service, scope } = challenge.params;
    const scopes = mergeScopes([...req.scopes, ...(scope ?? '').split(' ')]);
    if (!URL.canParse(realm)) throw new RegistryError(`${req.context}: the registry's token realm ${JSON.stringify(realm)} is not a URL`);
    const url = new URL(realm);
    const context = `${req.context}: token from ${url.origin}${url.pathname}`;
    let res: http.IncomingMessage;
    if (credentials.identityToken !== undefined) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: credentials.identityToken, client_id: 'buildkit-plugin' });
      if (service) form.set('service', service);
      form.set('scope', scopes.join(' '));
      const headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
      res = await this.send(url, { method: 'POST', target: realm, headers, body: Buffer.from(form.toString()), scopes, context });
    } else {
      if (service) url.searchParams.set('service', service);
      for (const s of scopes) url.searchParams.append('scope', s);
      const authorization = credentials.username === undefined ? undefined : basic(credentials);
      res = await this.send(url, { method: 'GET', target: realm, scopes, context }, authorization);
    }
    if (res.statusCode !== 200)
      throw answerError(context, res.statusCode ?? 0, res.statusMessage ?? '', (await this.body(res, 64 << 10, context)).toString(), credentials.source);
    let answer: { token?: unknown; access_token?: unknown } = {};
    try {
      answer = JSON.parse((await this.body(res, 1 << 20, context)).toString('utf8')) as typeof answer;
    } catch {
      // no token: said below
    }
    const token = answer.token || answer.access_token;
    if (typeof token !== 'string') throw new RegistryError(`${context}: the answer has no token`);
    return token;
  }

  private async follow(registry: string, req: RegistryRequest, authorization: string | undefined): Promise<http.IncomingMessage> {
    const apiHost = apiHostOf(registry);
    const origin = `${this.schemes.get(apiHost) ?? 'https:'}//${apiHost}`;
    if (!URL.canParse(req.target, origin)) throw new RegistryError(`${req.context}: ${JSON.stringify(req.target)} is not a URL`);
    let url = new URL(req.target, origin);
    for (let hops = 0; ; hops++) {
      const res = await this.sendToRegistry(apiHost, url, req, sameOrigin(url, apiHost) ? authorization : undefined);
      const location = res.headers.location;
      if ((req.method !== 'GET' && req.method !== 'HEAD') || !redirects.has(res.statusCode ?? 0) || !location || hops >= maxRedirects) return res;
      res.resume();
      if (!URL.canParse(location, url.href)) throw new RegistryError(`${req.context}: the registry redirects to ${JSON.stringify(location)}`);
      url = new URL(location, url);
    }
  }

  /** Sends to the registry; a local registry whose TLS handshake fails is asked again over plain HTTP, as Docker does for insecure registries. */
  private async sendToRegistry(apiHost: string, url: URL, req: RegistryRequest, authorization?: string): Promise<http.IncomingMessage> {
    const undecided = !this.schemes.has(apiHost) && sameOrigin(url, apiHost);
    try {
      const res = await this.send(url, req, authorization);
      if (undecided) this.schemes.set(apiHost, url.protocol);
      return res;
    } catch (err) {
      if (!(undecided && err instanceof HandshakeFailure && isLocalHost(apiHost) && !(req.body instanceof Readable))) throw err;
      const plain = new URL(url);
      plain.protocol = 'http:';
      const res = await this.send(plain, req, authorization);
      this.schemes.set(apiHost, 'http:');
      return res;
    }
  }

  private async send(url: URL, req: RegistryRequest, authorization?: string): Promise<http.IncomingMessage> {
    const secure = url.protocol === 'https:';
    const timeout = this.access.timeoutMs ?? 30_000;
    const options: https.RequestOptions = {
      method: req.method,
      headers: { ...req.headers, ...(authorization ? { Authorization: authorization } : {}) },
      agent: secure ? this.agents.https : this.agents.http,
      signal: this.access.signal,
      timeout,
      ...(secure ? this.tlsFor(url.host) : {}),
    };
    let secured = !secure;
    try {
      return await new Promise<http.IncomingMessage>((resolve, reject) => {
        const request = (secure ? https : http).request(url, options, resolve);
        request.on('socket', (socket) => {
          if (!socket.connecting) secured = true;
          else (socket as TLSSocket).once('secureConnect', () => (secured = true));
        });
        // Node's socket timeout: idle time, though a TLS handshake may wait about twice as long.
        request.on('timeout', () => request.destroy(new Error(`no answer (timeout ${timeout / 1000} s)`)));
        request.on('error', reject);
        if (req.body instanceof Readable) pipeline(req.body, request, () => undefined);
        else request.end(req.body);
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      const failure = this.networkError(err, `${req.context}: ${url.origin}`, this.tlsHint(code, url.host));
      if (!secured && !isAbort(err) && (code === 'EPROTO' || code === 'ECONNRESET' || code.startsWith('ERR_SSL_'))) throw new HandshakeFailure(failure.message);
      throw failure;
    }
  }

  private networkError(err: unknown, context: string, hint?: string): Error {
    if (isAbort(err) || err instanceof RegistryError) return err as Error;
    return new RegistryError(`${context}: ${messageOf(err)}${hint ? ` (${hint})` : ''}`);
  }

  /** Where the TLS files go, for certificate errors Docker's certs.d would fix. */
  private tlsHint(code: string, host: string): string | undefined {
    const dir = join(this.certsDir(), host);
    if (untrustedServer.test(code)) return `a CA for it goes in ${dir}/ca.crt`;
    if (refusedClient.test(code)) return `the registry wants a client certificate it trusts: ${dir}/client.cert and client.key`;
    return undefined;
  }

  private certsDir(): string {
    return this.access.certsDir ?? '/etc/docker/certs.d';
  }

  private tlsFor(host: string): https.RequestOptions {
    let options = this.tls.get(host);
    if (!options) {
      options = tlsOptions(this.certsDir(), host);
      this.tls.set(host, options);
    }
    return options;
  }
}

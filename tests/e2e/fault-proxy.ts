import { createServer, IncomingMessage, request as httpRequest, Server, ServerResponse } from 'node:http';
import { AddressInfo, Socket } from 'node:net';

/**
 * An HTTP reverse proxy on 127.0.0.1 in front of a real registry that injects faults by rule:
 * "answer the first N manifest PUTs with 500", "reset the first blob upload's connection", ...
 * Everything no rule claims passes through unchanged (the Host header included, so the
 * registry's upload `Location`s point back at the proxy). Every request is recorded.
 *
 * BuildKit treats `127.0.0.1:PORT` as a plain-HTTP registry, so `image: <proxy.host>/repo`
 * pushes through it, and the real registry holds the result under the same repository.
 */

export type Fault =
  /** An HTTP answer, e.g. `{ status: 500 }` or a registry error `{ status: 400, body: registryError('MANIFEST_INVALID', ...) }`. */
  | { status: number; body?: string | object; headers?: Record<string, string> }
  /** Close the connection with a TCP RST before answering ("connection reset by peer"). */
  | { reset: true }
  /** Close the connection (FIN) before answering (Go: `EOF`). */
  | { close: true };

export interface FaultRule {
  /** HTTP method to match (any when absent). */
  method?: string;
  /** Path (with query) to match. */
  path: RegExp;
  /** How many matching requests get the fault; later ones pass through. Infinity: all. */
  times: number;
  fault: Fault;
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** The status the client got (0 for a reset or an upstream failure). */
  status: number;
  /** Index of the rule that injected a fault, when one did. */
  rule?: number;
  at: number;
}

/** A registry-style (distribution) error body. */
export function registryError(code: string, message: string, detail?: unknown): object {
  return { errors: [{ code, message, ...(detail === undefined ? {} : { detail }) }] };
}

/** Request paths of a registry's manifest PUTs and blob uploads (POST, PATCH, PUT). */
export const manifestPut = { method: 'PUT', path: /^\/v2\/.+\/manifests\/[^/?]+$/ };
export const blobUpload = { path: /^\/v2\/.+\/blobs\/uploads\// };

const maxRecorded = 10_000;
const upstreamTimeoutMs = 60_000;

export class FaultProxy {
  readonly requests: RecordedRequest[] = [];
  private rules: Array<FaultRule & { hits: number }> = [];
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly upstream: { host: string; port: number },
  ) {}

  /** Starts a proxy on 127.0.0.1 (a free port) in front of `upstream` (`127.0.0.1:PORT`). */
  static async start(upstream: string, rules: FaultRule[] = []): Promise<FaultProxy> {
    const [host, port] = upstream.split(':');
    let proxy: FaultProxy | undefined;
    const server = createServer((req, res) => proxy?.handle(req, res));
    proxy = new FaultProxy(server, { host: host ?? '127.0.0.1', port: Number(port) });
    proxy.setRules(rules);
    server.on('connection', (socket) => {
      proxy?.sockets.add(socket);
      socket.on('close', () => proxy?.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  /** `127.0.0.1:PORT`, to use in image references. */
  get host(): string {
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Replaces the rules (and their counts); the record is kept. */
  setRules(rules: FaultRule[]): void {
    this.rules = rules.map((rule) => ({ ...rule, hits: 0 }));
  }

  /** How many faults each rule has injected so far. */
  hits(): number[] {
    return this.rules.map((rule) => rule.hits);
  }

  /** Recorded requests matching method and path. */
  matching(match: { method?: string; path: RegExp }): RecordedRequest[] {
    return this.requests.filter((r) => (match.method === undefined || r.method === match.method) && match.path.test(r.path));
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }

  private record(entry: Omit<RecordedRequest, 'at'>): void {
    if (this.requests.length < maxRecorded) this.requests.push({ ...entry, at: Date.now() });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const index = this.rules.findIndex((rule) => (rule.method === undefined || rule.method === method) && rule.path.test(path) && rule.hits < rule.times);
    if (index >= 0) {
      const rule = this.rules[index] as FaultRule & { hits: number };
      rule.hits++;
      this.inject(req, res, rule.fault, (status) => this.record({ method, path, status, rule: index }));
      return;
    }
    this.pass(req, res, (status) => this.record({ method, path, status }));
  }

  private inject(req: IncomingMessage, res: ServerResponse, fault: Fault, done: (status: number) => void): void {
    if ('reset' in fault || 'close' in fault) {
      done(0);
      const socket = req.socket as Socket & { resetAndDestroy?: () => void };
      if ('reset' in fault && socket.resetAndDestroy) socket.resetAndDestroy();
      else socket.destroy();
      return;
    }
    // Read the request body first, as a registry would, so the client sees the answer.
    req.resume();
    req.on('end', () => {
      const body = fault.body === undefined ? '' : typeof fault.body === 'string' ? fault.body : JSON.stringify(fault.body);
      const headers: Record<string, string | number> = {
        'Content-Length': Buffer.byteLength(body),
        ...(typeof fault.body === 'object' ? { 'Content-Type': 'application/json; charset=utf-8', 'Docker-Distribution-Api-Version': 'registry/2.0' } : {}),
        ...fault.headers,
      };
      res.writeHead(fault.status, headers);
      res.end(body);
      done(fault.status);
    });
  }

  private pass(req: IncomingMessage, res: ServerResponse, done: (status: number) => void): void {
    const upstream = httpRequest(
      { host: this.upstream.host, port: this.upstream.port, method: req.method, path: req.url, headers: req.headers, timeout: upstreamTimeoutMs },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
        answer.pipe(res);
        done(answer.statusCode ?? 0);
      },
    );
    let failed = false;
    const fail = () => {
      if (failed) return;
      failed = true;
      upstream.destroy();
      if (!res.headersSent) {
        res.writeHead(502, { 'Content-Length': 0 });
        res.end();
      } else {
        res.destroy();
      }
      done(0);
    };
    upstream.on('timeout', fail);
    upstream.on('error', fail);
    req.pipe(upstream);
  }
}

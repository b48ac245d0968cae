import { connect as netConnect, Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { TlsConfig } from '../config/types';
import { tlsPem } from '../engines/tls';

type Env = Record<string, string | undefined>;

/**
 * Whether a buildkitd address answers: a TCP connection (and the TLS handshake, with the
 * job's certificates) to `tcp://` and `unix://` addresses; other schemes are not checked.
 * Resolves to an error text (Node's code and message), or undefined when it answered.
 */
export function checkConnection(endpoint: string, tls: TlsConfig | undefined, env: Env, timeoutMs: number): Promise<string | undefined> {
  const tcp = /^tcp:\/\/\[?([^\]]+?)\]?:(\d+)$/.exec(endpoint);
  const unix = /^unix:\/\/(\/.+)$/.exec(endpoint);
  if (!tcp && !unix) return Promise.resolve(undefined);
  let material: ReturnType<typeof tlsPem>;
  try {
    material = tlsPem(tls, env);
  } catch (error) {
    return Promise.resolve(`cannot read a TLS file: ${(error as Error).message}`);
  }
  return new Promise((resolve) => {
    const target = tcp ? { host: tcp[1] ?? '', port: Number(tcp[2]) } : { path: unix?.[1] ?? '' };
    const socket: Socket = material
      ? tlsConnect({ ...target, ...material, ALPNProtocols: ['h2'] }, () => finish(undefined))
      : netConnect(target, () => finish(undefined));
    const timer = setTimeout(() => finish(`ETIMEDOUT: no answer within ${timeoutMs} ms`), timeoutMs);
    socket.on('error', (error: NodeJS.ErrnoException) => finish(`${error.code ?? 'error'}: ${error.message}`));
    function finish(result: string | undefined) {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    }
  });
}

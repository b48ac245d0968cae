import { EngineInput, Facts } from './engine';
import { rankEndpoints, routeKey } from './endpoints';

/** Where a remote builder is: builder.endpoint (routed), builder.nodes, or the agent's BUILDKIT_HOST. */
export function remoteEndpoints({ config, env }: Pick<EngineInput, 'config' | 'env'>): { endpoints: string[]; from: string } {
  const { builder } = config;
  const nodeEndpoints = builder.nodes.flatMap((node) => (node.endpoint === undefined ? [] : [node.endpoint]));
  if (nodeEndpoints.length > 0) return { endpoints: nodeEndpoints, from: 'builder.nodes' };
  if (builder.endpoints.length > 0) return { endpoints: rankEndpoints(builder.endpoints, routeKey(builder.routeKey, env)), from: 'builder.endpoint' };
  if (env.BUILDKIT_HOST) return { endpoints: [env.BUILDKIT_HOST], from: 'BUILDKIT_HOST' };
  return { endpoints: [], from: '' };
}

/** The endpoint that builds: the first in route order that answered, else the first. */
export function chosenEndpoint(input: EngineInput, facts: Facts): string {
  return facts.endpoints?.chosen ?? remoteEndpoints(input).endpoints[0] ?? '';
}

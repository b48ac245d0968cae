import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { ECRPUBLICClient, GetAuthorizationTokenCommand as GetPublicAuthorizationTokenCommand } from '@aws-sdk/client-ecr-public';
import { AssumeRoleCommand, AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { AgentClient } from '../agent/buildkite-agent';
import { AssumeRole } from '../config/registry-auth';
import { EcrRegistry, LoginPlan, ecrPublicHost } from '../plan/registry-logins';
import { Credential, Credentials } from './credentials';

/**
 * ECR logins through the AWS SDK v3 (its default credential chain, or an assumed role).
 * A bundle of its own (dist/ecr.js): only jobs that log in to ECR load the SDK.
 */

type Env = Record<string, string | undefined>;
type AwsCredentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };

/** The SDK retries throttling and transient errors itself, with jittered exponential backoff. */
export const maxAttempts = 6;

export class EcrLoginError extends Error {}

export interface EcrLoginOptions {
  env: Env;
  /** For assume-role with oidc: `buildkite-agent oidc request-token --audience sts.amazonaws.com`. */
  agent: Pick<AgentClient, 'oidcToken'>;
  now?: () => number;
}

/** A token for every ECR registry of the plan (one GetAuthorizationToken per region), by host. */
export async function ecrTokens(plan: Pick<LoginPlan, 'ecr' | 'ecrPublic' | 'assumeRole'>, options: EcrLoginOptions): Promise<Credentials> {
  const now = options.now ?? Date.now;
  const { credentials, source } = await awsCredentials(plan.assumeRole, plan.ecr[0]?.region, plan.ecr[0]?.host ?? ecrPublicHost, options);
  const result: Credentials = {};
  for (const [region, registries] of byRegion(plan.ecr)) {
    const client = new ECRClient({ region, credentials, maxAttempts });
    const response = await send(() => client.send(new GetAuthorizationTokenCommand({})), registries[0]?.host ?? region, source);
    const data = response.authorizationData?.[0];
    const credential = decode(data?.authorizationToken, data?.expiresAt, now());
    for (const registry of registries) result[registry.host] = credential;
  }
  if (plan.ecrPublic) {
    // ECR Public's API lives in us-east-1 only.
    const client = new ECRPUBLICClient({ region: 'us-east-1', credentials, maxAttempts });
    const response = await send(() => client.send(new GetPublicAuthorizationTokenCommand({})), ecrPublicHost, source);
    result[ecrPublicHost] = decode(response.authorizationData?.authorizationToken, response.authorizationData?.expiresAt, now());
  }
  return result;
}

function byRegion(registries: EcrRegistry[]): Map<string, EcrRegistry[]> {
  const groups = new Map<string, EcrRegistry[]>();
  for (const registry of registries) groups.set(registry.region, [...(groups.get(registry.region) ?? []), registry]);
  return groups;
}

function decode(token: string | undefined, expiresAt: Date | undefined, issuedAt: number): Credential {
  const [username = '', ...rest] = Buffer.from(token ?? '', 'base64')
    .toString('utf8')
    .split(':');
  if (!token || rest.length === 0) throw new EcrLoginError('ECR answered GetAuthorizationToken without a token');
  return { username, secret: rest.join(':'), issuedAt, expiresAt: expiresAt ? expiresAt.getTime() : issuedAt + 12 * 3600_000 };
}

/** The SDK's default chain (credentials undefined), or the assumed role's; and where they come from, for messages. */
export async function awsCredentials(
  role: AssumeRole | undefined,
  region: string | undefined,
  host: string,
  options: EcrLoginOptions,
): Promise<{ credentials?: AwsCredentials; source: string }> {
  const source = credentialSource(role, options.env);
  return { credentials: role ? await assumeRole(role, region, options, source, host) : undefined, source };
}

async function assumeRole(role: AssumeRole, region: string | undefined, options: EcrLoginOptions, source: string, host: string): Promise<AwsCredentials> {
  const sts = new STSClient({ region: options.env.AWS_REGION ?? options.env.AWS_DEFAULT_REGION ?? region ?? 'us-east-1', maxAttempts });
  const params = { RoleArn: role.roleArn, RoleSessionName: role.sessionName ?? sessionName(options.env), DurationSeconds: role.durationSeconds };
  let response;
  if (role.oidc) {
    const { token, error } = await options.agent.oidcToken('sts.amazonaws.com');
    if (token === undefined) throw new EcrLoginError(`cannot log in to ${host} with ${source}: buildkite-agent oidc request-token failed: ${error}`);
    response = await send(() => sts.send(new AssumeRoleWithWebIdentityCommand({ ...params, WebIdentityToken: token })), host, source);
  } else {
    response = await send(() => sts.send(new AssumeRoleCommand(params)), host, source);
  }
  const c = response.Credentials;
  if (!c?.AccessKeyId || !c.SecretAccessKey) throw new EcrLoginError(`cannot log in to ${host} with ${source}: STS returned no credentials`);
  return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken };
}

/** A session name that leads back to the job: pipeline, build number, job id (STS: 2-64 of [\w+=,.@-]). */
export function sessionName(env: Env): string {
  const parts = ['buildkite', env.BUILDKITE_PIPELINE_SLUG, env.BUILDKITE_BUILD_NUMBER, env.BUILDKITE_JOB_ID].filter(Boolean);
  return parts
    .join('-')
    .replace(/[^\w+=,.@-]/g, '-')
    .slice(0, 64);
}

/** Where the credentials come from, as the SDK's default chain would find them. */
export function credentialSource(role: AssumeRole | undefined, env: Env): string {
  if (role) return `assume-role ${role.roleArn}${role.oidc ? ' with the job OIDC token' : ''}`;
  if (env.AWS_ACCESS_KEY_ID) return 'the environment credentials (AWS_ACCESS_KEY_ID)';
  if (env.AWS_PROFILE) return `the AWS profile ${env.AWS_PROFILE}`;
  if (env.AWS_WEB_IDENTITY_TOKEN_FILE) return 'the web identity token (AWS_WEB_IDENTITY_TOKEN_FILE, as EKS IRSA sets it)';
  if (env.AWS_CONTAINER_CREDENTIALS_FULL_URI || env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)
    return 'the container credentials (EKS Pod Identity or ECS task role)';
  return "the instance role (the agent's EC2 instance profile)";
}

/** One AWS call; a failure after the SDK's retries names the registry, the source and the AWS error code. */
async function send<T>(call: () => Promise<T>, host: string, source: string): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw new EcrLoginError(`cannot log in to ${host} with ${source}: ${awsErrorText(error)}`);
  }
}

/** `AccessDeniedException: ... (after 6 attempts)`: an AWS SDK error as the log shows it. */
export function awsErrorText(error: unknown): string {
  const e = error as { name?: string; message?: string; $metadata?: { attempts?: number } };
  const attempts = e.$metadata?.attempts && e.$metadata.attempts > 1 ? ` (after ${e.$metadata.attempts} attempts)` : '';
  return `${e.name ?? 'Error'}: ${e.message ?? String(error)}${attempts}`;
}

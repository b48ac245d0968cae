import { existsSync, readFileSync } from 'node:fs';
import { LoginPlan } from '../plan/registry-logins';
import { processRuntime } from '../run/runtime';
import { Credential, needsRefresh, readCredentials, writeCredentials } from './credentials';
import { credentialKey, loginPlanFile } from './docker-config';

/**
 * docker-credential-buildkit (bin/), the Docker credential helper the job's Docker config
 * names for every registry the plugin logs in to. Docker, buildx and buildctl run it each
 * time they need credentials, so a build that outlives an ECR token (12 h) gets a fresh one.
 * The protocol: https://github.com/docker/docker-credential-helpers (get, list; the job's
 * logins are the plugin's, so store and erase are refused).
 */
export async function credentialHelper(
  action: string | undefined,
  input: string,
  env: NodeJS.ProcessEnv,
  now = Date.now(),
): Promise<{ code: number; out: string }> {
  const dir = env.DOCKER_CONFIG;
  if (!dir || !existsSync(dir)) return { code: 1, out: 'docker-credential-buildkit: DOCKER_CONFIG is not the job Docker config of the buildkit plugin' };
  const credentials = readCredentials(dir);
  if (action === 'list') return { code: 0, out: JSON.stringify(Object.fromEntries(Object.entries(credentials).map(([key, c]) => [key, c.username]))) };
  if (action !== 'get') return { code: 1, out: `docker-credential-buildkit: ${action ?? 'no action'}: the buildkit plugin manages this job's registry logins` };
  const serverUrl = input.trim();
  const key = serverUrl === 'https://index.docker.io/v1/' ? serverUrl : credentialKey(serverUrl.replace(/^https?:\/\//, '').replace(/\/.*$/, ''));
  let credential = credentials[key];
  // Docker's words for "none here": the client then goes on without credentials.
  if (!credential) return { code: 1, out: 'credentials not found in native keychain' };
  if (needsRefresh(credential, now)) credential = await refresh(dir, key, env);
  return { code: 0, out: JSON.stringify({ ServerURL: serverUrl, Username: credential.username, Secret: credential.secret }) };
}

async function refresh(dir: string, key: string, env: NodeJS.ProcessEnv): Promise<Credential> {
  const plan = JSON.parse(readFileSync(loginPlanFile(dir), 'utf8')) as LoginPlan;
  const { agent } = processRuntime();
  const { ecrTokens } = await import('./ecr');
  const ecr = plan.ecr.filter((registry) => registry.host === key);
  const tokens = await ecrTokens({ ecr, ecrPublic: ecr.length === 0 && plan.ecrPublic, assumeRole: plan.assumeRole }, { env, agent });
  const credential = tokens[key] as Credential;
  await agent.redact(credential.secret);
  writeCredentials(dir, { [key]: credential });
  return credential;
}

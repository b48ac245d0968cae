import { existsSync, readFileSync, statSync } from 'node:fs';
import { inCheckout } from '../plan/build-request';
import { LoginPlan, logsIn } from '../plan/registry-logins';
import { Credentials, writeCredentials } from '../registry/credentials';
import { createDockerConfig, credentialKey, dockerConfigDir } from '../registry/docker-config';
import { UserError } from './hook-main';
import { log } from './log';
import { Runtime } from './runtime';

type Env = NodeJS.ProcessEnv;

/**
 * Logs the job in before the build: ECR tokens (AWS SDK, loaded only here) and `login:`
 * passwords go to the credential helper's private file in the job's Docker config, and to
 * the redactor. Fails naming the registry and the source; never prints a secret.
 */
export async function logIn(plan: LoginPlan, env: Env, stateDir: string, runtime: Runtime): Promise<void> {
  if (!logsIn(plan)) return;
  const dir = dockerConfigDir(stateDir);
  // The environment hook made it; a job whose environment hook ran elsewhere gets it now.
  if (!existsSync(`${dir}/config.json`)) createDockerConfig(stateDir, plan, env);
  const credentials: Credentials = staticCredentials(plan, env);
  if (plan.ecr.length > 0 || plan.ecrPublic) Object.assign(credentials, await ecrCredentials(plan, env, runtime));
  const secrets = [...new Set(Object.values(credentials).map((c) => c.secret))];
  const redacted = await Promise.all(secrets.map((secret) => runtime.agent.redact(secret)));
  if (redacted.some((ok) => !ok))
    log.warn(
      'buildkite-agent redactor add failed (it needs agent >= 3.66): registry tokens are not masked in the job log; the plugin itself never prints them',
    );
  writeCredentials(dir, Object.fromEntries(Object.entries(credentials).map(([host, credential]) => [credentialKey(host), credential])));
  const hosts = Object.keys(credentials);
  log.info(`buildkit: logged in to ${hosts.join(', ')} (credential helper docker-credential-buildkit, DOCKER_CONFIG=${dir})`);
}

function staticCredentials(plan: LoginPlan, env: Env): Credentials {
  const problems: string[] = [];
  const credentials: Credentials = {};
  for (const [i, login] of plan.static.entries()) {
    const at = `login[${i}] (${login.registry})`;
    let secret: string | undefined;
    if (login.passwordEnv !== undefined) {
      secret = env[login.passwordEnv];
      if (!secret) problems.push(`${at}: the job variable ${login.passwordEnv} is not set`);
    } else {
      const path = inCheckout(login.passwordFile as string, env);
      if (!existsSync(path) || !statSync(path).isFile()) problems.push(`${at}: the password file ${path} does not exist`);
      else secret = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
      if (secret === '') problems.push(`${at}: the password file ${path} is empty`);
    }
    if (secret) credentials[login.registry] = { username: login.username, secret };
  }
  if (problems.length > 0) throw new UserError('a registry password is missing:', problems);
  return credentials;
}

async function ecrCredentials(plan: LoginPlan, env: Env, runtime: Runtime): Promise<Credentials> {
  // A bundle of its own: only a job that logs in to ECR pays the AWS SDK's start-up.
  const { ecrTokens, EcrLoginError } = await import('../registry/ecr-login');
  try {
    return await ecrTokens(plan, { env, oidcToken: () => oidcToken(runtime) });
  } catch (error) {
    if (error instanceof EcrLoginError) throw new UserError(`ecr: ${error.message}`);
    throw error;
  }
}

async function oidcToken(runtime: Runtime): Promise<string> {
  const { token, error } = await runtime.agent.oidcToken('sts.amazonaws.com');
  if (token === undefined) throw new UserError(`ecr.assume-role.oidc: buildkite-agent oidc request-token failed: ${error}`);
  return token;
}

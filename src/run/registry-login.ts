import { redactAll } from '../agent/buildkite-agent';
import { inCheckout } from '../plan/build-request';
import { LoginPlan, logsIn } from '../plan/registry-logins';
import { Credentials, writeCredentials } from '../registry/credentials';
import { credentialKey, dockerConfigDir } from '../registry/docker-config';
import { UserError } from './hook-main';
import { log } from './log';
import { Runtime } from './runtime';
import { readSourceFile } from './source-file';

type Env = NodeJS.ProcessEnv;

/**
 * Logs the job in before the build: ECR tokens (AWS SDK, loaded only here) and `login:`
 * passwords go to the credential helper's private file in the job's Docker config, and to
 * the redactor. Fails naming the registry and the source; never prints a secret.
 */
export async function logIn(plan: LoginPlan, env: Env, stateDir: string, runtime: Runtime): Promise<void> {
  if (!logsIn(plan)) return;
  const credentials: Credentials = staticCredentials(plan, env);
  if (plan.ecr.length > 0 || plan.ecrPublic) Object.assign(credentials, await ecrCredentials(plan, env, runtime));
  await redactAll(
    runtime.agent,
    Object.values(credentials).map((c) => c.secret),
    'registry tokens and passwords',
  );
  const dir = dockerConfigDir(stateDir);
  writeCredentials(dir, Object.fromEntries(Object.entries(credentials).map(([host, credential]) => [credentialKey(host), credential])));
  log.info(`buildkit: logged in to ${Object.keys(credentials).join(', ')} (credential helper docker-credential-buildkit, DOCKER_CONFIG=${dir})`);
}

function staticCredentials(plan: LoginPlan, env: Env): Credentials {
  const problems: string[] = [];
  const credentials: Credentials = {};
  for (const [i, login] of plan.static.entries()) {
    const at = `login[${i}] (${login.registry})`;
    const read =
      login.passwordEnv !== undefined
        ? env[login.passwordEnv]
          ? { value: env[login.passwordEnv] as string }
          : { problem: `the job variable ${login.passwordEnv} is not set` }
        : readSourceFile(inCheckout(login.passwordFile as string, env), 'the password file');
    const secret = 'value' in read ? read.value.replace(/\r?\n$/, '') : '';
    if ('problem' in read) problems.push(`${at}: ${read.problem}`);
    else if (secret === '') problems.push(`${at}: the password is empty`);
    else credentials[login.registry] = { username: login.username, secret };
  }
  if (problems.length > 0) throw new UserError('a registry password is missing:', problems);
  return credentials;
}

async function ecrCredentials(plan: LoginPlan, env: Env, runtime: Runtime): Promise<Credentials> {
  // A bundle of its own: only a job that logs in to ECR pays the AWS SDK's start-up.
  const { ecrTokens, EcrLoginError } = await import('../registry/ecr');
  try {
    return await ecrTokens(plan, { env, agent: runtime.agent });
  } catch (error) {
    if (error instanceof EcrLoginError) throw new UserError(`ecr: ${error.message}`);
    throw error;
  }
}

import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { redactAll } from '../agent/buildkite-agent';
import { Config, SecretSource } from '../config/types';
import { BuildRequest, secretFile } from '../plan/build-request';
import { UserError } from './hook-main';
import { Runtime } from './runtime';
import { readSourceFile } from './source-file';

interface SecretValue {
  id: string;
  value: string;
}

/**
 * Before the build: every secret's source is there, every value is registered for redaction,
 * no build-arg carries a secret's value, and each Buildkite secret is written 0600 into the
 * state dir (removed after the build, and by pre-exit). Errors name the id and the source,
 * never a value.
 */
export async function prepareSecrets(config: Config, request: BuildRequest, env: NodeJS.ProcessEnv, stateDir: string, runtime: Runtime): Promise<void> {
  const values: SecretValue[] = [];
  const problems: string[] = [];
  for (const [i, secret] of config.secrets.entries()) {
    const read = await readSecret(secret, request, env, runtime);
    if ('problem' in read) problems.push(`secrets[${i}] (id ${secret.id}): ${read.problem}`);
    else values.push({ id: secret.id, value: read.value });
  }
  problems.push(...sshProblems(config, request, env));
  if (problems.length > 0) throw new UserError('a build secret or SSH source is missing:', problems);

  // Buildkite secrets too: `secret get` registers its value with the redactor only on newer agents.
  await redactAll(
    runtime.agent,
    values.map((v) => v.value),
    'secret values',
  );
  refuseSecretBuildArgs(request, values);
  for (const secret of config.secrets) {
    if (!('buildkiteSecret' in secret)) continue;
    const file = secretFile(stateDir, secret.id);
    rmSync(file, { force: true });
    writeFileSync(file, values.find((v) => v.id === secret.id)?.value ?? '', { mode: 0o600, flag: 'wx' });
  }
}

/** Removes the secret files the job wrote: as soon as the build is over, not only in pre-exit. */
export function removeSecretFiles(config: Config, stateDir: string): void {
  for (const secret of config.secrets) if ('buildkiteSecret' in secret) rmSync(secretFile(stateDir, secret.id), { force: true });
}

async function readSecret(
  secret: SecretSource,
  request: BuildRequest,
  env: NodeJS.ProcessEnv,
  runtime: Runtime,
): Promise<{ value: string } | { problem: string }> {
  if ('env' in secret) {
    const value = env[secret.env];
    return value === undefined || value === '' ? { problem: `the job variable ${secret.env} is not set` } : { value };
  }
  if ('file' in secret) {
    const src = request.secrets.find((s) => s.id === secret.id);
    return readSourceFile(src && 'src' in src ? src.src : secret.file);
  }
  const { value, error } = await runtime.agent.secret(secret.buildkiteSecret);
  return value === undefined ? { problem: `buildkite-agent secret get ${secret.buildkiteSecret} failed: ${error}` } : { value };
}

function sshProblems(config: Config, request: BuildRequest, env: NodeJS.ProcessEnv): string[] {
  return config.ssh.flatMap((entry, i) => {
    const at = `ssh[${i}] (${entry.id})`;
    const paths = request.ssh[i]?.paths ?? [];
    if (paths.length > 0) return paths.filter((path) => !existsSync(path)).map((path) => `${at}: ${path} does not exist`);
    const socket = env.SSH_AUTH_SOCK;
    if (!socket) {
      return [
        `${at}: forwards the agent's SSH agent, and this job has no SSH_AUTH_SOCK; start ssh-agent on the agent, or give a key: ssh: ["${entry.id}=/path/to/key"]`,
      ];
    }
    return existsSync(socket) ? [] : [`${at}: SSH_AUTH_SOCK is ${socket}, which does not exist: is the SSH agent running?`];
  });
}

/** A build-arg whose value is a secret's would put the secret in the image history. */
function refuseSecretBuildArgs(request: BuildRequest, values: SecretValue[]): void {
  for (const arg of request.buildArgs) {
    const same = values.find((v) => v.value !== '' && v.value === arg.value);
    if (same) {
      throw new UserError(
        `build-args: ${arg.key} has the value of the secret ${same.id}, and build-args land in the image history: ` +
          `drop the build-arg and read the secret in the Dockerfile with RUN --mount=type=secret,id=${same.id}`,
      );
    }
  }
}

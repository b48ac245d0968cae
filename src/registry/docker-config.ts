import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { LoginPlan, ecrPublicHost } from '../plan/registry-logins';
import { log } from '../run/log';

/** The name in `credHelpers`: Docker runs `docker-credential-buildkit` (bin/) for these hosts. */
const helperName = 'buildkit';

/** Where the job's own Docker config lives: inside the state dir, which pre-exit removes. */
export function dockerConfigDir(stateDir: string): string {
  return join(stateDir, 'docker-config');
}

/** Who to log in to (no secrets), for the credential helper. */
export function loginPlanFile(configDir: string): string {
  return join(configDir, 'buildkit-logins.json');
}

/** Docker's key for a registry: Docker Hub is known by its v1 URL, the rest by host[:port]. */
export function credentialKey(host: string): string {
  return ['docker.io', 'index.docker.io', 'registry-1.docker.io'].includes(host) ? 'https://index.docker.io/v1/' : host;
}

function loginHosts(plan: LoginPlan): string[] {
  return [...plan.ecr.map((registry) => registry.host), ...(plan.ecrPublic ? [ecrPublicHost] : []), ...plan.static.map((login) => login.registry)];
}

type DockerConfig = { auths?: Record<string, unknown>; credHelpers?: Record<string, string>; [key: string]: unknown };

/** The docker CLI's own config directory: DOCKER_CONFIG, else ~/.docker. */
export function userDockerConfigDir(env: Record<string, string | undefined>): string {
  return env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker');
}

/**
 * Creates the job's Docker config from the user's (DOCKER_CONFIG, else ~/.docker): the same
 * settings, contexts, CLI plugins and buildx state (linked, not copied), but for the hosts
 * the plugin logs in to, its credential helper instead of any inherited one (a credHelpers
 * entry or credsStore wins over auths). The user's own config is only read.
 */
export function createDockerConfig(stateDir: string, plan: LoginPlan, env: Record<string, string | undefined>): string {
  const source = userDockerConfigDir(env);
  const dir = dockerConfigDir(stateDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (existsSync(source)) {
    for (const entry of readdirSync(source)) {
      if (entry !== 'config.json' && !existsSync(join(dir, entry))) symlinkSync(join(source, entry), join(dir, entry));
    }
  }
  const config = readConfig(join(source, 'config.json'));
  const helpers: Record<string, string> = { ...config.credHelpers };
  const auths = { ...config.auths };
  for (const key of loginHosts(plan).map(credentialKey)) {
    helpers[key] = helperName;
    delete auths[key];
    delete auths[`https://${key}`];
  }
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify({ ...config, auths, credHelpers: helpers }, null, 2)}\n`, { mode: 0o600 });
  writeFileSync(loginPlanFile(dir), JSON.stringify(plan), { mode: 0o600 });
  return dir;
}

/**
 * The job's Docker config, made, and the variables that point the job at it: DOCKER_CONFIG,
 * the credential helper on PATH (bin/) with the Node.js to run it, and what DOCKER_CONFIG was
 * before, which pre-exit puts back for the hooks after it (the Elastic CI Stack's own
 * pre-exit removes the directory it made).
 */
export function jobDockerConfig(stateDir: string, plan: LoginPlan, env: Record<string, string | undefined>, pluginDir: string): Record<string, string> {
  const dir = dockerConfigDir(stateDir);
  const ours = env.DOCKER_CONFIG === dir;
  createDockerConfig(stateDir, plan, ours ? { ...env, DOCKER_CONFIG: env.BUILDKIT_PLUGIN_DOCKER_CONFIG_BEFORE } : env);
  const bin = join(pluginDir, 'bin');
  const path = env.PATH ?? '';
  return {
    DOCKER_CONFIG: dir,
    BUILDKIT_PLUGIN_DOCKER_CONFIG: dir,
    BUILDKIT_PLUGIN_DOCKER_CONFIG_BEFORE: (ours ? env.BUILDKIT_PLUGIN_DOCKER_CONFIG_BEFORE : env.DOCKER_CONFIG) ?? '',
    BUILDKIT_PLUGIN_NODE: process.execPath,
    PATH: path.split(':').includes(bin) ? path : `${bin}:${path}`,
  };
}

function readConfig(file: string): DockerConfig {
  if (!existsSync(file)) return {};
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as DockerConfig) : {};
  } catch {
    log.warn(`${file} is not valid JSON (Docker refuses it too); the job's own Docker config starts empty`);
    return {};
  }
}

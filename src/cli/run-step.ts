import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { Env, RunningHook, runHook } from './hook-process';
import { interpolateValue } from './interpolate';
import { jobEnv } from './job-env';
import { selectStep, stepCommand, stringMap } from './pipeline';
import { agentPluginEnv, ConfigForm } from './plugin-env';

export interface RunStepOptions {
  pipeline: string;
  step?: string;
  checkout: string;
  pluginDir: string;
  env: Record<string, string>;
  configForm: ConfigForm;
  agentDir?: string;
  cancelAfterSeconds?: number;
  graceSeconds: number;
  /**
   * Run as agent-stack-k8s does: the environment hook in a checkout container first
   * (phases plugin,checkout; its environment is not passed on), then the command container
   * (plugin,command) runs environment, command and pre-exit. `checkoutPath` is that
   * container's PATH (the stock agent image has no Node.js).
   */
  kubernetes?: { checkoutPath: string };
  /** Values `buildkite-agent secret get KEY` returns. */
  agentSecrets?: Record<string, string>;
  /** Cancel by signalling the hook's shell alone, not its process group. */
  cancelShellOnly?: boolean;
}

export interface StepResult {
  code: number;
  hookMs: Record<string, number>;
  metaData: Record<string, string>;
  annotations: Record<string, string>;
  /** sha256 (hex) of each value the hooks gave `buildkite-agent redactor add`. */
  redactions: string[];
}

/**
 * Runs one pipeline step through the plugin's hooks as an agent would: environment,
 * command (the plugin's command hook replaces the step's command), then pre-exit always.
 */
export async function runStep(options: RunStepOptions): Promise<StepResult> {
  const checkout = resolve(options.checkout);
  const selected = selectStep(options.pipeline, options.step);
  const agentDir = options.agentDir ?? mkdtempSync(join(tmpdir(), 'buildkit-local-agent-'));
  // Every way out (a refused configuration, a hook that cannot start, a throw) removes the
  // runner's own temporary directory; the hooks' directories are removed by runHook.
  try {
    return await runInAgentDir(options, checkout, selected, agentDir);
  } finally {
    if (options.agentDir === undefined) rmSync(agentDir, { recursive: true, force: true });
  }
}

async function runInAgentDir(options: RunStepOptions, checkout: string, selected: ReturnType<typeof selectStep>, agentDir: string): Promise<StepResult> {
  mkdirSync(agentDir, { recursive: true });
  writeAgentSecrets(agentDir, options.agentSecrets ?? {});

  const base = jobEnv(checkout, {
    ...(selected.step.key ? { BUILDKITE_STEP_KEY: selected.step.key } : {}),
    BUILDKITE_LABEL: selected.step.label ?? '',
    ...options.env,
  });
  // As `buildkite-agent pipeline upload` does, before the job sees any of it.
  const interpolationEnv = { ...process.env, ...base, ...selected.pipelineEnv } as Record<string, string>;
  const config = interpolateValue(selected.pluginConfig, interpolationEnv);
  base.BUILDKITE_COMMAND = interpolateValue(stepCommand(selected.step), interpolationEnv) as string;
  base.BUILDKITE_PLUGINS = JSON.stringify([{ [selected.pluginKey]: config }]);

  const plugin = agentPluginEnv(selected.pluginKey, config, options.configForm);
  const collect = (): StepResult => ({
    code,
    hookMs,
    metaData: readEntries(join(agentDir, 'meta-data')),
    annotations: readEntries(join(agentDir, 'annotations')),
    redactions: [...new Set(readLines(join(agentDir, 'redactions')))],
  });
  const hookMs: Record<string, number> = {};
  let code = 0;
  if (plugin.refusal !== undefined) {
    // The agent fails such a job while preparing the plugin: no hook runs, not even pre-exit.
    for (const line of plugin.refusal.split('\n')) process.stderr.write(`buildkit-local: the agent fails the job before any hook runs: ${line}\n`);
    code = 1;
    return collect();
  }

  let env: Env = {
    ...(process.env as Env),
    ...selected.pipelineEnv,
    ...stringMap(interpolateValue(selected.step.env ?? {}, interpolationEnv) as Record<string, unknown>),
    ...base,
    ...plugin.env,
    BUILDKITE_LOCAL_AGENT_DIR: agentDir,
    PATH: `${join(options.pluginDir, 'libexec')}${delimiter}${process.env.PATH ?? ''}`,
  };

  let current: RunningHook | undefined;
  let cancelled = false;
  const cancel = () => {
    if (cancelled) return;
    cancelled = true;
    process.stderr.write('buildkit-local: cancelling the job\n');
    current?.cancel(options.graceSeconds, options.cancelShellOnly);
  };
  const cancelTimer = options.cancelAfterSeconds !== undefined ? setTimeout(cancel, options.cancelAfterSeconds * 1000) : undefined;
  process.on('SIGINT', cancel);
  process.on('SIGTERM', cancel);

  try {
    // agent-stack-k8s runs the environment hook in a checkout container first, whose
    // environment is not passed on; the command container then runs every hook.
    const phases: Array<{ label: string; hook: string; container?: Env }> = [
      ...(options.kubernetes
        ? [
            {
              label: 'checkout container: environment',
              hook: 'environment',
              container: { BUILDKITE_BOOTSTRAP_PHASES: 'plugin,checkout', PATH: options.kubernetes.checkoutPath },
            },
          ]
        : []),
      ...['environment', 'command', 'pre-exit'].map((hook) => ({ label: hook, hook })),
    ];
    if (options.kubernetes) env = { ...env, BUILDKITE_BOOTSTRAP_PHASES: 'plugin,command' };
    for (const phase of phases) {
      const always = phase.hook === 'pre-exit';
      if (!always && (code !== 0 || cancelled)) continue;
      const path = join(options.pluginDir, 'hooks', phase.hook);
      if (!existsSync(path)) continue;
      // As the agent's executor does for the hooks that run after a cancel.
      if (cancelled) env = { ...env, BUILDKITE_JOB_CANCELLED: 'true' };
      const started = Date.now();
      const hookEnv = { ...env, ...phase.container };
      current = runHook(path, hookEnv, checkout);
      const outcome = await current.done;
      current = undefined;
      hookMs[phase.label] = Date.now() - started;
      if (outcome.startError) {
        process.stderr.write(
          `buildkit-local: the agent could not start the ${phase.label} hook: ${startFailure(outcome.startError, hookEnv, plugin.optionPaths)}\n`,
        );
      }
      if (!phase.container) env = outcome.env;
      if (outcome.exitedEarly) process.stderr.write(`buildkit-local: hook ${phase.label} exited early; its exports are lost\n`);
      if (outcome.code !== 0 && code === 0) code = outcome.code;
      if (cancelled && code === 0) code = 143;
    }
  } finally {
    if (cancelTimer) clearTimeout(cancelTimer);
    process.off('SIGINT', cancel);
    process.off('SIGTERM', cancel);
  }
  return collect();
}

/** Linux's limit on one variable (MAX_ARG_STRLEN: 32 pages). */
const maxVariableBytes = 32 * 4096;

/**
 * Why exec refused the hook's environment, naming the variables and their option paths: a
 * NUL byte (the agent's Go exec refuses those too) or E2BIG (a variable over 128 KiB, or
 * the whole environment over the kernel's limit).
 */
export function startFailure(error: NodeJS.ErrnoException, env: Env, optionPaths: Record<string, string>): string {
  const label = (name: string) => {
    const what = name === 'BUILDKITE_PLUGIN_CONFIGURATION' ? 'the whole configuration' : name === 'BUILDKITE_PLUGINS' ? 'every plugin of the step' : undefined;
    const paths = optionPaths[name] ? `option ${optionPaths[name]}` : undefined;
    const about = [what, paths].filter(Boolean).join(', ');
    return about ? `${name} (${about})` : name;
  };
  const withNul = Object.keys(env).filter((name) => env[name]?.includes('\0'));
  if (withNul.length > 0) return `a variable cannot hold a NUL byte: ${withNul.map(label).join(', ')}`;
  if (error.code === 'E2BIG') {
    const big = Object.keys(env).filter((name) => Buffer.byteLength(`${name}=${env[name]}`) > maxVariableBytes);
    const total = Object.entries(env).reduce((sum, [k, v]) => sum + Buffer.byteLength(k) + Buffer.byteLength(v) + 2, 0);
    return big.length > 0
      ? `the environment is too large for exec (E2BIG): over ${maxVariableBytes} bytes: ${big.map((name) => `${label(name)} ${Buffer.byteLength(env[name] ?? '')} bytes`).join(', ')}`
      : `the environment is too large for exec (E2BIG): ${total} bytes in all`;
  }
  return error.message;
}

/** Where the buildkite-agent stand-in finds them, by URL-encoded key, private to this user. */
function writeAgentSecrets(agentDir: string, secrets: Record<string, string>): void {
  const dir = join(agentDir, 'secrets');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const [key, value] of Object.entries(secrets)) {
    if (!/^[A-Za-z0-9_]+$/.test(key)) throw new Error(`--agent-secret: a key is letters, digits and _ (got ${JSON.stringify(key)})`);
    writeFileSync(join(dir, key.toLowerCase()), value, { mode: 0o600 });
  }
}

function readLines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

function readEntries(dir: string): Record<string, string> {
  if (!existsSync(dir)) return {};
  return Object.fromEntries(readdirSync(dir).map((name) => [decodeURIComponent(name), readFileSync(join(dir, name), 'utf8')]));
}

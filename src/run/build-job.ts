import { Config } from '../config/types';
import { factsToProbe } from '../engines/choose';
import { PlannedRequest, planBuildRequest, withPushedName } from '../plan/build-request';
import { Plan, planJob } from '../plan/plan';
import { ScanPlan } from '../plan/scan-plan';
import { planOrFail } from './config-or-fail';
import { driverOptionErrors, versionWarnings } from '../plan/version-warnings';
import { failureAnnotation } from '../report/annotation';
import { annotationContext } from '../report/meta-data-keys';
import { readBuildMetadata } from '../report/build-metadata';
import { BuildProgress } from '../report/build-progress';
import { reportBuild } from '../report/report-build';
import { executeSteps } from './execute-steps';
import { writeExports } from './exports';
import { UserError } from './hook-main';
import { log } from './log';
import { lookUpTools, probeFacts } from './probes';
import { prepareSecrets, removeSecretFiles } from './secrets';
import { logIn } from './registry-login';
import { useJobDockerConfig } from './job-docker-config';
import { Facts } from '../engines/engine';
import { registryHint } from '../engines/registry-hints';
import { Runtime, processRuntime } from './runtime';
import { shellCommand } from './shell-quote';
import { createStateDir, stateDirPath } from './state-dir';
import { runStepCommand } from './step-command';
import { finishLocalCache, leaseLocalCache } from './local-cache';
import { cacheReport } from './cache-report';
import { scanImage } from './scan-image';
import type { InputsKey } from './inputs-key';
import { Reuse } from '../report/report-build';

/** The command hook: build, report, then the step's own command with the results. */
export async function runBuildJob(config: Config, configNotices: string[], env: NodeJS.ProcessEnv, runtime: Runtime = processRuntime()): Promise<number> {
  const stateDir = stateDirPath(env);
  const planned = planBuildRequest(config, env, stateDir, runtime.now());
  const tools = lookUpTools(runtime, env);
  const facts = await probeFacts(factsToProbe({ config, request: planned.request, env }, tools), tools, runtime, env, config);
  const unreachable = unreachableBuilders(facts);
  const plan = planOrFail(() => planJob(config, planned, env, facts));
  const tooNew = driverOptionErrors(config, facts.buildxVersion);
  if (tooNew.length > 0) throw new UserError(tooNew.join('\n'));
  const notices = [...configNotices, ...plan.notices];
  const warnings = [
    ...unreachable,
    ...versionWarnings(plan.request, { buildx: facts.buildxVersion, buildkit: plan.buildkitVersion }),
    ...clientWarnings(facts),
  ];
  log.info(`buildkit: engine ${plan.engine.name}${plan.builtOn ? ` (${plan.builtOn})` : ''}: ${plan.engineReason}`);
  notices.forEach((notice) => log.info(`buildkit: ${notice}`));
  warnings.forEach((warning) => log.warn(warning));

  const inputs = plan.skip ? await hashInputs(plan, runtime) : undefined;
  inputs?.warnings.forEach((warning) => log.warn(warning));
  // On a miss the build pushes the inputs tag too (never from a fork).
  const buildPlan = inputs && plan.skip?.writes ? withInputsTag(config, planned, inputs, env, facts) : plan;

  if (config.dryRun) {
    if (inputs) await printReuse(plan, inputs, env);
    printPlan(buildPlan, env);
    return 0;
  }

  createStateDir(stateDir);
  useJobDockerConfig(plan.logins, env, stateDir);
  let built: Built;
  try {
    await prepareSecrets(config, plan.request, env, stateDir, runtime);
    await logIn(plan.logins, env, stateDir, runtime);
    const all = [...notices, ...warnings, ...(inputs?.warnings ?? [])];
    built =
      (inputs && (await reuseAndReport(config, plan, inputs, env, runtime, all))) ??
      (await buildAndReport(config, buildPlan, env, stateDir, runtime, all, inputs && { reused: false, ref: inputs.ref }));
  } finally {
    // The secret files go as soon as the build is over; pre-exit removes them too if this hook is killed.
    removeSecretFiles(config, stateDir);
  }
  if (!('exports' in built)) return built.code;
  const scanned = plan.scan ? await scanImage(plan.scan, built.exports, config, env, runtime) : 0;
  if (scanned !== 0) return scanned;
  // A job cancelled meanwhile runs no step command.
  return runtime.cancelled() ? 1 : runStepCommand({ ...env, ...built.exports }, runtime);
}

/** The build failed (its exit code), or succeeded with what it exports to the step command. */
type Built = { code: number } | { exports: Record<string, string> };

/** skip-unchanged: the key of what the build reads, timed for the log. */
async function hashInputs(plan: Plan, runtime: Runtime): Promise<InputsKey> {
  const started = Date.now();
  // Its own bundle, loaded only by the jobs that use it.
  const { inputsKey } = await import('./skip-unchanged');
  const inputs = await inputsKey(plan.skip as NonNullable<Plan['skip']>, runtime.now());
  const mb = (inputs.bytes / 1e6).toFixed(1);
  log.info(`buildkit: skip-unchanged: inputs key ${inputs.key} (${inputs.files} files, ${mb} MB hashed in ${Date.now() - started} ms)`);
  return inputs;
}

function withInputsTag(config: Config, planned: PlannedRequest, inputs: InputsKey, env: NodeJS.ProcessEnv, facts: Facts): Plan {
  return planJob(config, { ...planned, request: withPushedName(planned.request, inputs.ref) }, env, facts);
}

/**
 * skip-unchanged: when an image of the same inputs exists, tag it and report it as a build
 * would, instead of building. Undefined sends the job on to the build.
 */
async function reuseAndReport(
  config: Config,
  plan: Plan,
  inputs: InputsKey,
  env: NodeJS.ProcessEnv,
  runtime: Runtime,
  warnings: string[],
): Promise<Built | undefined> {
  const skip = plan.skip;
  if (!skip?.reuses) return undefined;
  const started = Date.now();
  log.group(':recycle: Looking for an image built from the same inputs');
  const { findReusable, registryAccess, tagReused } = await import('./skip-unchanged');
  const access = registryAccess(env);
  const { found, warning } = await findReusable(inputs, access);
  if (!found) {
    if (warning) warnings.push(warning);
    if (warning) log.warn(warning);
    else log.info(`buildkit: skip-unchanged: no image has these inputs yet (${inputs.ref}); building`);
    return undefined;
  }
  const { digest } = found.manifest;
  log.info(`buildkit: unchanged since ${found.since ?? 'an earlier build'}, reusing ${digest}`);
  const failed = await tagReused(skip, found, plan.request.loads, access, runtime);
  if (failed) {
    log.warn(failed);
    warnings.push(failed);
    return undefined;
  }
  const exports = { ...plan.exports, BUILDKIT_IMAGE_REFS: skip.names.join(' '), BUILDKIT_IMAGE_DIGEST: digest, BUILDKIT_IMAGE_REUSED: 'true' };
  writeExports(exports, env);
  const isIndex = /index|manifest\.list/.test(found.manifest.mediaType);
  await reportBuild(
    {
      config,
      request: plan.request,
      env,
      result: { digest, isIndex, targets: {} },
      refs: skip.names,
      seconds: (Date.now() - started) / 1000,
      builtOn: undefined,
      warnings,
      reuse: { reused: true, ref: inputs.ref, since: found.since },
    },
    runtime.agent,
  );
  return { exports };
}

/** dry-run: the key, and whether an image of it exists (looked up with the agent's own Docker config). */
async function printReuse(plan: Plan, inputs: InputsKey, env: NodeJS.ProcessEnv): Promise<void> {
  if (!plan.skip?.reuses) return;
  const { findReusable, registryAccess } = await import('./skip-unchanged');
  const { found, warning } = await findReusable(inputs, registryAccess(env));
  if (warning) log.info(`buildkit: dry-run: ${warning.replace(/; building$/, '')}: it would look again and build when it is missing`);
  else if (found) log.info(`buildkit: dry-run: ${inputs.ref} exists (${found.manifest.digest}): it would reuse it and not build`);
  else log.info(`buildkit: dry-run: ${inputs.ref} does not exist: it would build and push that tag too`);
}

async function buildAndReport(
  config: Config,
  plan: Plan,
  env: NodeJS.ProcessEnv,
  stateDir: string,
  runtime: Runtime,
  warnings: string[],
  reuse?: Reuse,
): Promise<Built> {
  const context = { runtime, env, stateDir };
  const setup = await executeSteps(plan.setup, context);
  if (setup.code !== 0) {
    log.openCurrentGroup();
    log.error(`${setup.failed?.title} failed (exit ${setup.code})`);
    const hint = plan.engine.hint(setup.tail);
    if (hint) log.error(hint);
    return { code: setup.code };
  }

  const started = Date.now();
  const progress = new BuildProgress();
  const { localCache } = plan.request;
  const leaseWarnings = localCache ? await leaseLocalCache(localCache, stateDir, (ms) => runtime.sleep(ms)) : [];
  const build = await executeSteps([plan.build, ...plan.after], { ...context, observe: { step: plan.build, line: (text) => progress.line(text) } });
  const seconds = (Date.now() - started) / 1000;
  const localWarnings = localCache
    ? [...leaseWarnings, ...(await finishLocalCache(localCache, build.code === 0 && !runtime.cancelled(), (ms) => runtime.sleep(ms)))]
    : [];
  log.info(`buildkit: the build took ${Math.round(seconds * 1000)} ms`);
  const cancelled = runtime.cancelled();
  if (cancelled) {
    log.error(`the build was cancelled (${cancelled})`);
    return { code: build.code || 1 };
  }
  if (build.code !== 0) {
    log.openCurrentGroup();
    log.error(build.failed === plan.build ? `the build failed (exit ${build.code})` : `${build.failed?.title} failed (exit ${build.code})`);
    const hint = plan.engine.hint(build.tail) ?? registryHint(build.tail);
    if (hint) log.error(hint);
    if (config.annotate) await runtime.agent.annotate(failureAnnotation(env.BUILDKITE_LABEL, build.code, build.tail, hint), 'error', annotationContext(env));
    return { code: build.code };
  }

  const cache = cacheReport(plan.request, progress, localWarnings);
  const result = readBuildMetadata(plan.request.metadataFile, config.bake?.targets);
  // The inputs tag is the plugin's own bookkeeping, not one of the image's names.
  const refs = config.bake ? Object.values(result.targets).flatMap((t) => t.refs) : plan.request.refs.filter((ref) => ref !== reuse?.ref);
  const exports: Record<string, string> = { ...plan.exports, BUILDKIT_IMAGE_REFS: refs.join(' ') };
  if (result.digest) exports.BUILDKIT_IMAGE_DIGEST = result.digest;
  if (reuse) exports.BUILDKIT_IMAGE_REUSED = 'false';
  writeExports(exports, env);
  await reportBuild(
    {
      config,
      request: plan.request,
      env,
      result,
      refs,
      seconds,
      builtOn: plan.builtOn,
      warnings: [...warnings, ...cache.warnings],
      cacheHits: cache.hits,
      reuse,
    },
    runtime.agent,
  );
  return { exports };
}

/** dry-run: every command of the plan, as it would run; housekeeping and skip checks as comments. */
function printPlan(plan: Plan, env: NodeJS.ProcessEnv): void {
  log.group(':docker: dry-run: the commands this step would run');
  for (const step of [...plan.setup, plan.build, ...plan.after]) {
    if (step.reuseIf) log.info(`# skipped when this succeeds: ${shellCommand(step.reuseIf.argv)}`);
    log.info(step.quiet ? `# housekeeping, failure ignored: ${shellCommand(step.argv)}` : shellCommand(step.argv));
  }
  for (const cleanup of plan.cleanups) log.info(shellCommand(cleanup.argv));
  if (plan.scan) printScan(plan.scan);
  if ((env.BUILDKITE_COMMAND ?? '').trim() !== '') log.info(`then the step command: ${env.BUILDKITE_COMMAND}`);
}

function printScan({ ecr, settings }: ScanPlan): void {
  if (ecr) {
    const gate =
      settings.failOn === 'never'
        ? 'report only'
        : `fail on ${settings.failOn} or above${settings.ignore.length > 0 ? `, ignoring ${settings.ignore.join(', ')}` : ''}`;
    log.info(`then Amazon ECR scans ${ecr.registry.host}/${ecr.repository}@<digest> (${gate}; waiting up to ${settings.timeoutSeconds} s)`);
  }
  if (settings.command) log.info(`then scan.command: ${settings.command}`);
}

/** Builders that failed the connection check: a warning each, or the error when none answered. */
function unreachableBuilders(facts: Facts): string[] {
  const check = facts.endpoints;
  if (!check || check.failures.length === 0) return [];
  const each = check.failures.map((failure) => `${failure.endpoint}: ${failure.reason}`);
  if (!check.chosen) throw new UserError('no remote builder answered the connection check:', each);
  return each.map((line) => `the builder ${line}; using ${check.chosen}`);
}

/** buildctl and buildkitd of different minor versions may not speak the same protocol. */
function clientWarnings(facts: Facts): string[] {
  const minor = (version: string) => /^(\d+\.\d+)\./.exec(version)?.[1];
  const { buildctlVersion: client, daemonVersion: daemon } = facts;
  if (!client || !daemon || minor(client) === minor(daemon)) return [];
  return [
    `buildctl ${client} and the builder's BuildKit ${daemon} differ in minor version: builds may fail with protocol or feature errors; use a buildctl of the daemon's version`,
  ];
}

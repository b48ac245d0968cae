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
import { executeSteps } from './execute-steps';
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
import { artifactLinks, uploadArtifacts } from './artifacts';
import { Reuse } from '../report/report-build';
import { Built, handOn } from './hand-on';
import { hashInputs, printReuse, reuseImage } from './reuse-job';
import type { InputsKey } from './inputs-key';
import { commitTime } from './commit-time';

/** The command hook: build, report, then the step's own command with the results. */
export async function runBuildJob(config: Config, configNotices: string[], env: NodeJS.ProcessEnv, runtime: Runtime = processRuntime()): Promise<number> {
  const stateDir = stateDirPath(env);
  const commit = config.reproducible ? await commitTime(runtime, env) : undefined;
  const planned = planBuildRequest(config, env, stateDir, runtime.now(), commit);
  const tools = lookUpTools(runtime, env);
  const facts = await probeFacts(factsToProbe({ config, request: planned.request, env }, tools), tools, runtime, env, config);
  const unreachable = unreachableBuilders(facts);
  const plan = planOrFail(() => planJob(config, planned, env, facts));
  const tooNew = driverOptionErrors(config, facts.buildxVersion);
  if (tooNew.length > 0) throw new UserError(tooNew.join('\n'));
  const notices = [...configNotices, ...plan.notices];
  const warnings = [
    ...unreachable,
    ...plan.warnings,
    ...versionWarnings(plan.request, { buildx: facts.buildxVersion, buildkit: plan.buildkitVersion }),
    ...clientWarnings(facts),
  ];
  log.info(`buildkit: engine ${plan.engine.name}${plan.builtOn ? ` (${plan.builtOn})` : ''}: ${plan.engineReason}`);
  notices.forEach((notice) => log.info(`buildkit: ${notice}`));
  warnings.forEach((warning) => log.warn(warning));

  const inputs = plan.skip ? await hashInputs(plan.skip, runtime) : undefined;
  // On a miss the build pushes the inputs tag too (never from a fork).
  const buildPlan = inputs && plan.skip?.writes ? withInputsTag(config, planned, inputs, env, facts) : plan;

  if (config.dryRun) {
    if (inputs && plan.skip) await printReuse(plan.skip, inputs, env);
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
    const reuse = inputs ? await reuseImage(config, plan, inputs, env, runtime, all) : undefined;
    built = reuse && 'built' in reuse ? reuse.built : await buildAndReport(config, buildPlan, env, stateDir, runtime, all, reuse?.miss);
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

function withInputsTag(config: Config, planned: PlannedRequest, inputs: InputsKey, env: NodeJS.ProcessEnv, facts: Facts): Plan {
  return planJob(config, { ...planned, request: withPushedName(planned.request, inputs.ref) }, env, facts);
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
    log.cancelled('build', cancelled);
    return { code: build.code || 1 };
  }
  if (build.code !== 0) {
    log.openCurrentGroup();
    log.error(build.failed === plan.build ? `the build failed (exit ${build.code})` : `${build.failed?.title} failed (exit ${build.code})`);
    const hint = build.timedOut
      ? `the build ran longer than timeout (${config.timeoutSeconds} s) and was stopped (SIGTERM, then SIGKILL); raise timeout, or find what hangs`
      : (plan.engine.hint(build.tail) ?? registryHint(build.tail));
    if (hint) log.error(hint);
    if (config.annotate) await runtime.agent.annotate(failureAnnotation(env.BUILDKITE_LABEL, build.code, build.tail, hint), 'error', annotationContext(env));
    return { code: build.code };
  }

  const cache = cacheReport(plan.request, progress, localWarnings);
  const result = readBuildMetadata(plan.request.metadataFile, config.bake?.targets);
  // The inputs tag is the plugin's own bookkeeping, not one of the image's names.
  const refs = config.bake ? Object.values(result.targets).flatMap((t) => t.refs) : reportedRefs(plan.request, result.digest, reuse);
  const uploaded = config.artifacts ? await uploadArtifacts(plan.request, env, runtime) : { paths: [], warnings: [] };
  uploaded.warnings.forEach((warning) => log.warn(warning));
  const report = {
    config,
    request: plan.request,
    env,
    result,
    refs,
    seconds,
    builtOn: plan.builtOn,
    warnings: [...warnings, ...cache.warnings, ...uploaded.warnings],
    cacheHits: cache.hits,
    reuse,
    artifacts: uploaded.paths.length > 0 ? artifactLinks(uploaded.paths) : undefined,
  };
  return handOn(report, plan.exports, runtime);
}

/** The image's names: pushed by digest, the repository at that digest (what a merge step reads). */
function reportedRefs(request: Plan['request'], digest: string | undefined, reuse: Reuse | undefined): string[] {
  if (request.pushByDigest && digest) return [`${request.pushByDigest.repository}@${digest}`];
  return request.refs.filter((ref) => ref !== reuse?.ref);
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

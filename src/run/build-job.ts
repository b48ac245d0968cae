import { annotate, setMetaData } from '../agent/buildkite-agent';
import { Config } from '../config/types';
import { imageStoreMatters } from '../plan/builder';
import { versionMatters } from '../plan/version-gates';
import { Plan, Probes, planJob } from '../plan/plan';
import { PlanError } from '../plan/plan-error';
import { buildAnnotation, failureAnnotation } from '../report/annotation';
import { BuildResult, readBuildMetadata } from '../report/build-metadata';
import { annotationContext, metaDataKeys } from '../report/meta-data-keys';
import { setUpBuilder } from './builder-setup';
import { diagnoseBuildFailure } from './diagnose';
import { cancellation, exec } from './exec';
import { writeExports } from './exports';
import { UserError } from './hook-main';
import { log } from './log';
import { probeBuildkitVersion, probeBuildxVersion, probeImageStore } from './probes';
import { backoffSeconds, isTransientPushFailure } from './retry';
import { shellCommand } from './shell-quote';
import { createStateDir, stateDirPath } from './state-dir';
import { runStepCommand } from './step-command';
import { which } from './which';

const failureTailLines = 40;

/** The command hook: build, report, then the step's own command with the results. */
export async function runBuildJob(config: Config, env: NodeJS.ProcessEnv): Promise<number> {
  const stateDir = stateDirPath(env);
  const plan = planOrFail(config, env, stateDir, await probe(config, env));
  plan.notices.forEach((notice) => log.info(`buildkit: ${notice}`));
  plan.warnings.forEach((warning) => log.warn(warning));

  if (config.dryRun) {
    log.group(':docker: dry-run: the commands this step would run');
    for (const argv of [plan.builder.create, plan.build.argv, plan.builder.remove]) if (argv) log.info(shellCommand(argv));
    if ((env.BUILDKITE_COMMAND ?? '').trim() !== '') log.info(`then the step command: ${env.BUILDKITE_COMMAND}`);
    return 0;
  }

  createStateDir(stateDir);
  const setup = await setUpBuilder(plan.builder, stateDir, env);
  if (setup !== 0) return setup;

  const started = Date.now();
  const build = await buildWithRetries(plan, config, env);
  const seconds = (Date.now() - started) / 1000;
  log.info(`buildkit: the build took ${Math.round(seconds * 1000)} ms`);
  if (cancellation()) {
    log.error(`the build was cancelled (${cancellation()})`);
    return build.code || 1;
  }
  if (build.code !== 0) {
    log.openCurrentGroup();
    log.error(`the build failed (exit ${build.code})`);
    const hint = diagnoseBuildFailure(build.tail);
    if (hint) log.error(hint);
    if (config.annotate) await annotate(failureAnnotation(env.BUILDKITE_LABEL, build.code, build.tail, hint), 'error', annotationContext(env));
    return build.code;
  }

  const result = readBuildMetadata(plan.metadataFile, config.bake?.targets);
  const refs = plan.bake ? Object.values(result.targets).flatMap((t) => t.refs) : plan.refs;
  const exports: Record<string, string> = { BUILDKIT_IMAGE_REFS: refs.join(' ') };
  if (result.digest) exports.BUILDKIT_IMAGE_DIGEST = result.digest;
  writeExports(exports, env);
  await report(plan, config, env, result, refs, seconds);
  return runStepCommand({ ...env, ...exports });
}

async function probe(config: Config, env: NodeJS.ProcessEnv): Promise<Probes> {
  const docker = which('docker', env.PATH) !== undefined;
  // Each probe runs at most once, side by side, and only when the plan depends on it.
  const [imageStore, buildxVersion, buildkitVersion] = await Promise.all([
    docker && imageStoreMatters(config) ? probeImageStore(env) : undefined,
    docker && !config.dryRun && versionMatters(config, 'buildx') ? probeBuildxVersion(env) : undefined,
    docker && !config.dryRun && config.builder.driver !== 'docker-container' && versionMatters(config, 'BuildKit') ? probeBuildkitVersion(env) : undefined,
  ]);
  return { docker, imageStore, buildxVersion, buildkitVersion, now: new Date() };
}

function planOrFail(config: Config, env: NodeJS.ProcessEnv, stateDir: string, probes: Probes): Plan {
  try {
    return planJob(config, env, stateDir, probes);
  } catch (error) {
    if (error instanceof PlanError) throw new UserError(error.message);
    throw error;
  }
}

/** Runs the build; a push that failed on a transient registry error is retried with backoff. */
async function buildWithRetries(plan: Plan, config: Config, env: NodeJS.ProcessEnv): Promise<{ code: number; tail: string[] }> {
  for (let attempt = 0; ; attempt++) {
    log.group(attempt === 0 ? plan.build.title : `${plan.build.title} (retry ${attempt} of ${config.retries})`);
    log.info(`$ ${shellCommand(plan.build.argv)}`);
    const { code, tail } = await exec(plan.build.argv, { env, tailLines: failureTailLines });
    if (code === 0 || cancellation() || attempt >= config.retries || !plan.push || !isTransientPushFailure(tail)) return { code, tail };
    const delay = backoffSeconds(attempt + 1);
    log.warn(`the push failed with a transient registry error; retrying in ${delay} s (${attempt + 1} of ${config.retries})`);
    await new Promise((resolve) => setTimeout(resolve, delay * 1000));
  }
}

async function report(plan: Plan, config: Config, env: NodeJS.ProcessEnv, result: BuildResult, refs: string[], seconds: number): Promise<void> {
  // Each call is a round trip to Buildkite: made side by side.
  const calls: Promise<void>[] = [];
  if (config.metaData) {
    const keys = metaDataKeys(env);
    if (result.digest) calls.push(setMetaData(keys.digest, result.digest));
    if (refs.length > 0) calls.push(setMetaData(keys.refs, refs.join(' ')));
    for (const [target, outcome] of Object.entries(result.targets)) {
      const targetKeys = metaDataKeys(env, target);
      if (outcome.digest) calls.push(setMetaData(targetKeys.digest, outcome.digest));
      if (outcome.refs.length > 0) calls.push(setMetaData(targetKeys.refs, outcome.refs.join(' ')));
    }
  }
  if (config.annotate) {
    const body = buildAnnotation({
      label: env.BUILDKITE_LABEL,
      refs,
      pushed: plan.push,
      digest: result.digest,
      seconds,
      platforms: plan.platforms,
      attestations: attestations(plan, config, result),
      targets: plan.bake ? result.targets : undefined,
      warnings: [...plan.notices, ...plan.warnings],
    });
    calls.push(annotate(body, 'success', annotationContext(env)));
  }
  await Promise.all(calls);
}

/** What was attested, as far as the result shows: none unless an index was pushed. */
function attestations(plan: Plan, config: Config, result: BuildResult): string[] {
  if (!plan.push || config.load || result.isIndex === false) return [];
  const list: string[] = [];
  if (config.provenance !== false) list.push(`provenance (${typeof config.provenance === 'string' ? config.provenance : 'mode=min'})`);
  if (config.sbom) list.push('sbom');
  return list;
}

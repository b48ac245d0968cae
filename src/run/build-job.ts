import { annotate, setMetaData } from '../agent/buildkite-agent';
import { Config } from '../config/types';
import { PlanError, planJob } from '../plan/plan';
import { buildAnnotation } from '../report/annotation';
import { readBuildMetadata } from '../report/build-metadata';
import { annotationContext, metaDataKeys } from '../report/meta-data-keys';
import { exec } from './exec';
import { writeExports } from './exports';
import { UserError } from './hook-main';
import { log } from './log';
import { shellCommand } from './shell-quote';
import { createStateDir, stateDirPath } from './state-dir';
import { runStepCommand } from './step-command';
import { which } from './which';

/** The command hook: build, report, then the step's own command with the results. */
export async function runBuildJob(config: Config, env: NodeJS.ProcessEnv): Promise<number> {
  const stateDir = stateDirPath(env);
  let plan;
  try {
    plan = planJob(config, env, stateDir, { docker: which('docker', env.PATH) !== undefined });
  } catch (error) {
    if (error instanceof PlanError) throw new UserError(error.message);
    throw error;
  }
  plan.notices.forEach((notice) => log.info(`buildkit: ${notice}`));

  if (config.dryRun) {
    log.group(':docker: dry-run: the commands this step would run');
    log.info(shellCommand(plan.build.argv));
    if ((env.BUILDKITE_COMMAND ?? '').trim() !== '') log.info(`then the step command: ${env.BUILDKITE_COMMAND}`);
    return 0;
  }

  createStateDir(stateDir);
  log.group(plan.build.title);
  log.info(`$ ${shellCommand(plan.build.argv)}`);
  const started = Date.now();
  const { code } = await exec(plan.build.argv, { env });
  const seconds = (Date.now() - started) / 1000;
  log.info(`buildkit: the build took ${Math.round(seconds * 1000)} ms`);
  if (code !== 0) {
    log.openCurrentGroup();
    log.error(`the build failed (exit ${code})`);
    return code;
  }

  const { digest } = readBuildMetadata(plan.metadataFile);
  const exports: Record<string, string> = { BUILDKIT_IMAGE_REFS: plan.refs.join(' ') };
  if (digest) exports.BUILDKIT_IMAGE_DIGEST = digest;
  writeExports(exports, env);
  // Each call is a round trip to Buildkite: made side by side.
  const reports: Promise<void>[] = [];
  if (config.metaData) {
    const keys = metaDataKeys(env);
    if (digest) reports.push(setMetaData(keys.digest, digest));
    if (plan.refs.length > 0) reports.push(setMetaData(keys.refs, plan.refs.join(' ')));
  }
  if (config.annotate) {
    const body = buildAnnotation({ label: env.BUILDKITE_LABEL, refs: plan.refs, pushed: plan.push, digest, seconds });
    reports.push(annotate(body, 'success', annotationContext(env)));
  }
  await Promise.all(reports);
  return runStepCommand({ ...env, ...exports });
}

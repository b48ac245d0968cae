import { ScanPlan } from '../plan/scan-plan';
import { ScanOutcome, gateFailure, judgeScan, scanAnnotation, scanMetaData } from '../report/scan-report';
import { annotationContext, metaDataKeys } from '../report/meta-data-keys';
import { Config } from '../config/types';
import { log } from './log';
import { Runtime } from './runtime';
import { agentShell } from './step-command';

type Env = NodeJS.ProcessEnv;

/**
 * After a successful build, before the step command: the ECR scan of the pushed digest and
 * the user's scan.command, reported in the log, the annotation and meta-data. Returns the
 * hook's exit status: 1 when the gate fails.
 */
export async function scanImage(plan: ScanPlan, exports: Record<string, string>, config: Config, env: Env, runtime: Runtime): Promise<number> {
  const outcome: ScanOutcome = { settings: plan.settings, images: [] };
  if (plan.ecr) await ecrScan(plan, exports.BUILDKIT_IMAGE_DIGEST, outcome, env, runtime);
  const { command } = plan.settings;
  if (command && !runtime.cancelled()) {
    log.group(':mag: Running scan.command');
    log.info(`$ ${command}`);
    if (env.BUILDKITE_COMMAND_EVAL === 'false') {
      // A console command of the pipeline, as the step's own: refused as the agent refuses that one.
      log.error('scan.command: this agent is not allowed to evaluate console commands (it runs with --no-command-eval); not run');
      outcome.command = { command, code: 1 };
    } else {
      const { code } = await runtime.exec([...agentShell(env), command], { env: { ...env, ...exports } });
      outcome.command = { command, code };
    }
  }
  const verdict = judgeScan(outcome);
  if (outcome.images.some((image) => !image.error)) {
    const found = Object.entries(verdict.counts).filter(([, n]) => n > 0);
    log.info(`buildkit: scan: ${found.length > 0 ? found.map(([severity, n]) => `${n} ${severity.toLowerCase()}`).join(', ') : 'no findings'}`);
  }
  if (plan.settings.failOn === 'never') verdict.errors.forEach((error) => log.warn(`scan: ${error}`));
  const calls: Promise<void>[] = [];
  if (config.metaData) calls.push(runtime.agent.setMetaData(metaDataKeys(env).scan, scanMetaData(outcome, verdict)));
  if (config.annotate) {
    const annotation = scanAnnotation(outcome, verdict, env.BUILDKITE_LABEL);
    calls.push(runtime.agent.annotate(annotation.body, annotation.style, annotationContext(env, 'scan')));
  }
  await Promise.all(calls);
  if (runtime.cancelled()) {
    log.cancelled('scan', String(runtime.cancelled()));
    return 1;
  }
  if (verdict.passed) return 0;
  log.openCurrentGroup();
  gateFailure(outcome, verdict).forEach((line) => log.error(line));
  return 1;
}

async function ecrScan(plan: ScanPlan, digest: string | undefined, outcome: ScanOutcome, env: Env, runtime: Runtime): Promise<void> {
  const target = plan.ecr;
  if (!target) return;
  log.group(':shield: Scanning the image with Amazon ECR');
  outcome.repository = `${target.registry.host}/${target.repository}`;
  outcome.digest = digest;
  if (!digest) {
    outcome.error = 'the build reported no image digest to scan';
    return;
  }
  // The AWS SDK is in a bundle of its own, as for the login.
  const { scanEcrImage, EcrScanError, EcrLoginError } = await import('../registry/ecr');
  try {
    const scan = await scanEcrImage(target, digest, {
      env,
      agent: runtime.agent,
      timeoutMs: plan.settings.timeoutSeconds * 1000,
      sleep: (ms) => runtime.sleep(ms),
      cancelled: () => runtime.cancelled() !== undefined,
      log: (line) => log.info(`buildkit: scan: ${line}`),
    });
    outcome.scanning = scan.scanning;
    outcome.images = scan.images;
  } catch (error) {
    if (!(error instanceof EcrScanError || error instanceof EcrLoginError)) throw error;
    outcome.error = error.message;
  }
}

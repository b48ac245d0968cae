import { Config } from '../config/types';
import { chooseEngine } from '../engines/choose';
import { Engine, Facts } from '../engines/engine';
import { BuildRequest, PlannedRequest } from './build-request';
import { PlanError } from './plan-error';
import { LoginPlan, planLogins } from './registry-logins';
import { ScanPlan, planScan } from './scan-plan';
import { SkipPlan, planSkipUnchanged } from './skip-plan';
import { CleanupStep, Step } from './step';

type Env = Record<string, string | undefined>;

/** Engines whose builder is another machine, perhaps of another architecture. */
const builtElsewhere = ['buildx-remote', 'buildx-kubernetes', 'buildctl-remote'];

/** Everything the command hook will do, decided without side effects. */
export interface Plan {
  engine: Engine;
  /** Why that engine, for the log. */
  engineReason: string;
  request: BuildRequest;
  /** Run in order before the build; each may register a clean-up. */
  setup: Step[];
  build: Step;
  /** Run after a successful build. */
  after: Step[];
  /** Variables for the step command (and later hooks). */
  exports: Record<string, string>;
  /** The builder that built, for the report. */
  builtOn?: string;
  /** What pre-exit will undo. */
  cleanups: CleanupStep[];
  /** The BuildKit version that builds, when the facts tell it. */
  buildkitVersion?: string;
  /** The registries the job logs in to. */
  logins: LoginPlan;
  /** The scan after the build, when asked for. */
  scan?: ScanPlan;
  /** The reuse check before the build (skip-unchanged). */
  skip?: SkipPlan;
  notices: string[];
  /** The build does less than asked (reproducible on the Docker engine's own BuildKit). */
  warnings: string[];
}

/** The plan for a request (plan/build-request.ts) on this agent, as far as the facts tell. */
export function planJob(config: Config, planned: PlannedRequest, env: Env, facts: Facts): Plan {
  const { request } = planned;
  const notices = [...planned.notices];
  const logins = planLogins(config, request, env);
  const scan = planScan(config, request, logins.plan);
  const skip = planSkipUnchanged(config, request, env);
  const errors = [...planned.errors, ...logins.errors, ...scan.errors, ...skip.errors];
  if (errors.length > 0) throw new PlanError(errors.join('\n'));
  notices.push(...scan.notices, ...skip.notices);
  const input = { config, request, env };
  const choice = chooseEngine(input, facts);
  if (choice.notice) notices.push(choice.notice);
  if (skip.plan && request.platforms.length === 0 && builtElsewhere.includes(choice.engine.name)) {
    // The key holds the agent's own platform; a remote builder's may differ.
    throw new PlanError(
      `skip-unchanged: set platforms (e.g. linux/amd64): the ${choice.engine.name} builder builds for its own platform, which is not known before the build, and an image of another architecture must never be reused`,
    );
  }
  const setup = choice.engine.setup(input, facts);
  const engineBuild = choice.engine.build(input, facts);
  const build = config.timeoutSeconds ? { ...engineBuild, timeoutMs: config.timeoutSeconds * 1000 } : engineBuild;
  return {
    engine: choice.engine,
    engineReason: choice.reason,
    request,
    setup,
    build,
    after: choice.engine.after(input),
    exports: choice.engine.exports(input, facts),
    builtOn: choice.engine.builtOn(input, facts),
    cleanups: [...setup, build].flatMap((step) => (step.cleanup ? [step.cleanup] : [])),
    buildkitVersion: choice.engine.buildkitVersion(facts),
    logins: logins.plan,
    scan: scan.plan,
    skip: skip.plan,
    notices,
    warnings: choice.warning ? [choice.warning] : [],
  };
}

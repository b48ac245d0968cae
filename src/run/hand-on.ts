import { BuildReport, reportBuild } from '../report/report-build';
import { writeExports } from './exports';
import { Runtime } from './runtime';

/** How a job ended: failed (its exit code), or succeeded with what it exports to the step command. */
export type Built = { code: number } | { exports: Record<string, string> };

/**
 * What a successful job hands on, built or reused alike: the variables for the step command
 * and later hooks (the plan's, the refs, the digest, whether it was reused), meta-data and
 * the annotation.
 */
export async function handOn(report: BuildReport, planExports: Record<string, string>, runtime: Runtime): Promise<Built> {
  const exports: Record<string, string> = { ...planExports, BUILDKIT_IMAGE_REFS: report.refs.join(' ') };
  if (report.result.digest) exports.BUILDKIT_IMAGE_DIGEST = report.result.digest;
  if (report.reuse) exports.BUILDKIT_IMAGE_REUSED = String(report.reuse.reused);
  writeExports(exports, report.env);
  await reportBuild(report, runtime.agent);
  return { exports };
}

import { ScanConfig, gateSeverities } from '../config/scan';
import { AnnotationStyle } from '../agent/buildkite-agent';
import { escapeMarkdown } from './annotation';

/** Severities as ECR reports them, most severe first; Inspector's UNTRIAGED counts as UNDEFINED. */
export const severities = [...gateSeverities, 'INFORMATIONAL', 'UNDEFINED'] as const;
export type Severity = (typeof severities)[number];

/** One vulnerability in one package, from basic or enhanced scanning. */
export interface Finding {
  id: string;
  severity: Severity;
  package?: string;
  installed?: string;
  fixed?: string;
  url?: string;
}

/** The scan of one image manifest: its findings, or why there are none. */
export interface PlatformScan {
  /** `linux/arm64`; undefined for an image that is not in an index. */
  platform?: string;
  digest: string;
  findings: Finding[];
  error?: string;
}

export interface ScanOutcome {
  settings: ScanConfig;
  /** `host/repo`, when ECR scanned. */
  repository?: string;
  digest?: string;
  scanning?: 'basic' | 'enhanced';
  images: PlatformScan[];
  /** Why the ECR scan as a whole could not run or finish. */
  error?: string;
  command?: { command: string; code: number };
}

export type Counts = Record<Severity, number>;

export interface ScanVerdict {
  /** Distinct findings by severity, over every platform. */
  counts: Counts;
  /** Every distinct finding, most severe first. */
  findings: Finding[];
  /** Distinct findings at or above fail-on, not ignored: they fail the gate. */
  failing: Finding[];
  ignored: number;
  /** Why the scan could not tell (a whole-scan error, or one per platform). */
  errors: string[];
  passed: boolean;
}

const rank = (severity: Severity) => severities.indexOf(severity);
const topFindings = 10;

function countsOf(findings: Finding[]): Counts {
  const counts = Object.fromEntries(severities.map((s) => [s, 0])) as Counts;
  for (const finding of findings) counts[finding.severity]++;
  return counts;
}

/** The same vulnerability in the same package, once, however many platforms have it: at its most severe. */
function distinct(outcome: ScanOutcome): Finding[] {
  const seen = new Map<string, Finding>();
  for (const finding of outcome.images.flatMap((image) => image.findings)) {
    const key = `${finding.id} ${finding.package ?? ''}`;
    const known = seen.get(key);
    if (!known || rank(finding.severity) < rank(known.severity)) seen.set(key, finding);
  }
  return [...seen.values()].sort((a, b) => rank(a.severity) - rank(b.severity) || a.id.localeCompare(b.id));
}

const describePlatform = (image: PlatformScan) => image.platform ?? image.digest;

const isIgnored = (settings: ScanConfig, finding: Finding) => settings.ignore.includes(finding.id.toUpperCase());

/** The gate: findings at or above fail-on that are not ignored, and errors when there is a gate. */
export function judgeScan(outcome: ScanOutcome): ScanVerdict {
  const { failOn } = outcome.settings;
  const findings = distinct(outcome);
  const ignored = (finding: Finding) => isIgnored(outcome.settings, finding);
  const failing = failOn === 'never' ? [] : findings.filter((f) => rank(f.severity) <= rank(failOn) && !ignored(f));
  const errors = [
    ...(outcome.error ? [outcome.error] : []),
    ...outcome.images.flatMap((image) => (image.error ? [`${describePlatform(image)}: ${image.error}`] : [])),
  ];
  const commandFailed = outcome.command !== undefined && outcome.command.code !== 0;
  const unverified = failOn !== 'never' && errors.length > 0;
  return {
    findings,
    counts: countsOf(findings),
    failing,
    ignored: findings.filter(ignored).length,
    errors,
    passed: failing.length === 0 && !unverified && !commandFailed,
  };
}

/** The log line of a failed gate: what failed it. */
export function gateFailure(outcome: ScanOutcome, verdict: ScanVerdict): string[] {
  const lines: string[] = [];
  const { failOn } = outcome.settings;
  if (verdict.failing.length > 0) {
    lines.push(`scan: ${verdict.failing.length} finding(s) at or above ${failOn} (scan.fail-on): ${verdict.failing.map(describeFinding).join(', ')}`);
  }
  if (failOn !== 'never' && verdict.errors.length > 0)
    lines.push(`scan: the ECR scan could not tell whether the image passes (scan.fail-on: ${failOn}): ${verdict.errors.join('; ')}`);
  if (outcome.command && outcome.command.code !== 0) lines.push(`scan: scan.command failed (exit ${outcome.command.code})`);
  return lines;
}

function describeFinding(finding: Finding): string {
  const where = [finding.package, finding.installed].filter(Boolean).join(' ');
  return `${finding.id} (${finding.severity}${where ? `, ${where}` : ''})`;
}

/** Meta-data `buildkit.<ns>.scan`: compact JSON, empty parts left out. */
export function scanMetaData(outcome: ScanOutcome, verdict: ScanVerdict): string {
  const platforms = outcome.images.filter((image) => image.platform);
  return JSON.stringify({
    result: verdict.passed ? 'passed' : 'failed',
    failOn: outcome.settings.failOn,
    ...(outcome.repository && { repository: outcome.repository, digest: outcome.digest }),
    ...(outcome.scanning && { scanner: `ecr-${outcome.scanning}`, counts: verdict.counts }),
    ...(platforms.length > 0 && {
      platforms: Object.fromEntries(platforms.map((image) => [image.platform, image.error ? { error: image.error } : countsOf(image.findings)])),
    }),
    ...(verdict.failing.length > 0 && { failing: verdict.failing.map((f) => f.id) }),
    ...(verdict.ignored > 0 && { ignored: verdict.ignored }),
    ...(verdict.errors.length > 0 && { errors: verdict.errors }),
    ...(outcome.command && { command: { exit: outcome.command.code } }),
  });
}

/** The scan annotation: counts by platform and severity, the gate, the top findings. */
export function scanAnnotation(outcome: ScanOutcome, verdict: ScanVerdict, label?: string): { body: string; style: AnnotationStyle } {
  const { failOn } = outcome.settings;
  const title = `:shield: ${label ? `${escapeMarkdown(label)}: image` : 'Image'} scan ${verdict.passed ? 'passed' : 'failed'}`;
  const lines = [`#### ${title}`, ''];
  if (outcome.repository) {
    const scanner = { enhanced: 'Amazon ECR enhanced scanning (Amazon Inspector)', basic: 'Amazon ECR basic scanning', none: 'Amazon ECR image scanning' }[
      outcome.scanning ?? 'none'
    ];
    lines.push(`${scanner} of \`${outcome.repository}@${outcome.digest ?? ''}\``, '');
  }
  const scanned = outcome.images.filter((image) => !image.error);
  if (scanned.length > 0) {
    lines.push(`| Platform | ${severities.map(titleCase).join(' | ')} |`, `| --- |${severities.map(() => ' ---: |').join('')}`);
    for (const image of scanned) {
      const counts = countsOf(image.findings);
      lines.push(`| ${image.platform ?? 'image'} | ${severities.map((s) => counts[s]).join(' | ')} |`);
    }
    lines.push('');
  }
  if (outcome.repository) lines.push(gateLine(outcome, verdict), '');
  const top = verdict.findings.slice(0, topFindings);
  if (top.length > 0) {
    lines.push('| Severity | Finding | Package | Installed | Fixed in |', '| --- | --- | --- | --- | --- |');
    for (const f of top) {
      const id = f.url ? `[${escapeMarkdown(f.id)}](${f.url})` : escapeMarkdown(f.id);
      lines.push(
        `| ${f.severity} | ${id}${isIgnored(outcome.settings, f) ? ' (ignored)' : ''} | ${cell(f.package)} | ${cell(f.installed)} | ${cell(f.fixed)} |`,
      );
    }
    const more = verdict.findings.length - top.length;
    if (more > 0) lines.push('', `and ${more} more.`);
    lines.push('');
  }
  if (verdict.errors.length > 0) {
    lines.push(failOn === 'never' ? 'The scan did not finish:' : 'The scan did not finish, so the gate fails:', '');
    for (const error of verdict.errors) lines.push(`- ${escapeMarkdown(error)}`);
    lines.push('');
  }
  if (outcome.command) {
    const { command, code } = outcome.command;
    lines.push(`\`scan.command\` ${code === 0 ? 'passed' : `failed (exit ${code})`}: \`${command.replace(/`/g, "'")}\``, '');
  }
  const serious = verdict.findings.some((f) => rank(f.severity) <= rank('HIGH') && !isIgnored(outcome.settings, f));
  const style = !verdict.passed ? 'error' : verdict.errors.length > 0 || serious ? 'warning' : 'info';
  return { body: `${lines.join('\n').trim()}\n`, style };
}

function gateLine(outcome: ScanOutcome, verdict: ScanVerdict): string {
  const { failOn } = outcome.settings;
  const ignored = verdict.ignored > 0 ? ` (${verdict.ignored} ignored)` : '';
  if (failOn === 'never') return `Report only (\`fail-on: never\`)${ignored}.`;
  if (verdict.failing.length === 0) return `Gate \`fail-on: ${failOn}\`: no finding at or above ${failOn}${ignored}.`;
  return `**Gate \`fail-on: ${failOn}\` failed** by ${verdict.failing.map((f) => `\`${escapeMarkdown(f.id)}\``).join(', ')}${ignored}.`;
}

const titleCase = (s: string) => s.charAt(0) + s.slice(1).toLowerCase();
const cell = (text: string | undefined) => (text ? escapeMarkdown(text).replace(/\|/g, '\\|') : '');

export interface AnnotationInput {
  label?: string;
  refs: string[];
  pushed: boolean;
  digest?: string;
  seconds: number;
  /** The remote builder that built. */
  builder?: string;
  platforms?: string[];
  attestations?: string[];
  targets?: Record<string, { digest?: string; refs: string[] }>;
  cacheHits?: { cached: number; total: number };
  reuse?: { reused: boolean; ref: string; since?: string; why?: string };
  promotedFrom?: string;
  /** Markdown links to the uploaded artifacts. */
  artifacts?: string;
  warnings?: string[];
}

/** Markdown body of the step's annotation after a successful build. */
export function buildAnnotation(input: AnnotationInput): string {
  const reused = input.reuse?.reused === true;
  const done = reused ? 'reused' : input.promotedFrom ? 'promoted' : 'built';
  const title = input.label ? `${input.label}${done === 'built' ? '' : ` (${done})`}` : `:docker: Image ${done}`;
  const lines = [`#### ${escapeMarkdown(title)} in ${input.seconds.toFixed(1)} s`, ''];
  if (input.promotedFrom) lines.push(`Promoted by digest from \`${input.promotedFrom}\`: not rebuilt.`, '');
  if (input.reuse) {
    const { reused, ref, since, why } = input.reuse;
    lines.push(
      reused
        ? `Unchanged since ${escapeMarkdown(since ?? 'an earlier build')}: not built, the image of \`${ref}\` was tagged.`
        : `Built: ${why ?? 'no image had these inputs'}.`,
      '',
    );
  }
  if (input.refs.length > 0) {
    lines.push(`${input.pushed ? 'Pushed' : 'Tagged'}:`, '');
    for (const ref of input.refs) lines.push(`- \`${ref}\``);
    lines.push('');
  }
  if (input.digest) lines.push(`Digest: \`${input.digest}\``, '');
  for (const [target, result] of Object.entries(input.targets ?? {})) {
    lines.push(`- target \`${target}\`: ${result.refs.map((r) => `\`${r}\``).join(', ') || 'no image'}${result.digest ? ` (\`${result.digest}\`)` : ''}`);
  }
  if (input.targets && Object.keys(input.targets).length > 0) lines.push('');
  if (input.builder) lines.push(`Builder: \`${input.builder}\``, '');
  if (input.platforms && input.platforms.length > 0) lines.push(`Platforms: ${input.platforms.join(', ')}`, '');
  if (input.attestations && input.attestations.length > 0) lines.push(`Attestations: ${input.attestations.join(', ')}`, '');
  if (input.artifacts) lines.push(`Artifacts: ${input.artifacts}`, '');
  if (input.cacheHits) lines.push(`Cache: ${input.cacheHits.cached} of ${input.cacheHits.total} build steps cached`, '');
  if (input.warnings && input.warnings.length > 0) {
    lines.push('Warnings:', '');
    for (const warning of input.warnings) lines.push(`- ${escapeMarkdown(warning)}`);
  }
  return `${lines.join('\n').trim()}\n`;
}

/** Markdown body when the build failed: the end of its output, where the error is. */
export function failureAnnotation(label: string | undefined, code: number, tail: string[], hint?: string): string {
  const fence = '```';
  const advice = hint ? `${escapeMarkdown(hint)}\n\n` : '';
  return `#### ${escapeMarkdown(label || ':docker: Image build')} failed (exit ${code})\n\n${advice}${fence}term\n${tail.join('\n').replace(/```/g, "'''")}\n${fence}\n`;
}

export function escapeMarkdown(text: string): string {
  return text.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c] as string);
}

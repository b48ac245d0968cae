export interface AnnotationInput {
  label?: string;
  refs: string[];
  pushed: boolean;
  digest?: string;
  seconds: number;
}

/** Markdown body of the step's annotation. */
export function buildAnnotation(input: AnnotationInput): string {
  const lines = [`#### ${escape(input.label || ':docker: Image built')} in ${input.seconds.toFixed(1)} s`, ''];
  if (input.refs.length > 0) {
    lines.push(`${input.pushed ? 'Pushed' : 'Tagged'}:`, '');
    for (const ref of input.refs) lines.push(`- \`${ref}\``);
    lines.push('');
  }
  if (input.digest) lines.push(`Digest: \`${input.digest}\``);
  return `${lines.join('\n').trim()}\n`;
}

function escape(text: string): string {
  return text.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c] as string);
}

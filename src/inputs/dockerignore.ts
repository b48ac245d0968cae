import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Visitor } from './walk';

/**
 * .dockerignore as BuildKit applies it to a local build context: the file the Dockerfile
 * frontend picks (frontend/dockerui), moby/patternmatcher's parsing (ignorefile.ReadAll) and
 * matching (MatchesUsingParentResults), and the directory pruning of tonistiigi/fsutil's
 * walker (filter.go), which runs in the buildx client. Ported rather than taken from
 * @balena/dockerignore, which follows the classic builder of Docker 19.03 and answers
 * differently: it ignores case, checks parents instead of carrying their results, and reads
 * `**x` as `**\/x`.
 */

/** The patterns of the ignore file BuildKit uses for the context `dir`, and that file. */
export async function dockerignoreOf(dir: string, dockerfile = join(dir, 'Dockerfile')): Promise<{ file?: string; patterns: string[] }> {
  // An existing <Dockerfile>.dockerignore wins even when empty (it is read from the Dockerfile's directory).
  for (const file of [`${dockerfile}.dockerignore`, join(dir, '.dockerignore')]) {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text !== undefined) return { file, patterns: parseDockerignore(text) };
  }
  return { patterns: [] };
}

/** ignorefile.ReadAll: one pattern a line, `#` comments, trimmed, cleaned, no leading `/`. */
export function parseDockerignore(text: string): string[] {
  const patterns: string[] = [];
  text
    .replace(/^\uFEFF/, '')
    .split('\n')
    .forEach((raw) => {
      const line = raw.replace(/\r$/, '');
      if (line.startsWith('#')) return;
      let pattern = goTrimSpace(line);
      if (pattern === '') return;
      const invert = pattern.startsWith('!');
      if (invert) pattern = goTrimSpace(pattern.slice(1));
      if (pattern.length > 0) {
        pattern = cleanPath(pattern);
        if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
      }
      patterns.push(invert ? `!${pattern}` : pattern);
    });
  return patterns;
}

/** Go's strings.TrimSpace (unicode.IsSpace), which differs from String.trim on U+0085 and U+FEFF. */
function goTrimSpace(text: string): string {
  return text.replace(
    /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g,
    '',
  );
}

/** Go's path.Clean. */
export function cleanPath(path: string): string {
  const rooted = path.startsWith('/');
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part !== '..') parts.push(part);
    else if (parts.length > 0 && parts[parts.length - 1] !== '..') parts.pop();
    else if (!rooted) parts.push('..');
  }
  const body = parts.join('/');
  return rooted ? `/${body}` : body || '.';
}

interface Pattern {
  /** The cleaned pattern, without its `!`. */
  text: string;
  exclusion: boolean;
  match: (path: string) => boolean;
}

/** Which patterns matched a directory, handed to its entries (patternmatcher.MatchInfo). */
export type MatchInfo = readonly boolean[] | undefined;

/** patternmatcher.PatternMatcher over `/`-separated paths relative to the context. */
export class PatternMatcher {
  readonly patterns: Pattern[];

  constructor(patterns: string[]) {
    this.patterns = patterns
      .map(goTrimSpace)
      .filter((pattern) => pattern !== '')
      .map((raw) => {
        let text = cleanPath(raw);
        const exclusion = text.startsWith('!');
        if (exclusion && text.length === 1) throw new Error('bad pattern "!": an exception of nothing');
        if (exclusion) text = text.slice(1);
        return { text, exclusion, match: compilePattern(text) };
      });
  }

  /**
   * MatchesUsingParentResults: whether `path` is excluded, and what its entries inherit. A
   * pattern skipped on the way (an exception while nothing matched, an exclusion once
   * matched) is not inherited, which can give another answer than checking each parent.
   */
  matches(path: string, parent: MatchInfo): { matched: boolean; info: boolean[] } {
    let matched = false;
    const info = this.patterns.map((pattern, index) => {
      let match = parent?.[index] ?? false;
      if (!match) {
        if (pattern.exclusion !== matched) return false;
        match = pattern.match(path) || (parent === undefined && ancestors(path).some(pattern.match));
      }
      if (match) matched = !pattern.exclusion;
      return match;
    });
    return { matched, info };
  }
}

/** `a/b/c` → `a`, `a/b`. */
function ancestors(path: string): string[] {
  const parts = path.split('/').slice(0, -1);
  return parts.map((_, index) => parts.slice(0, index + 1).join('/'));
}

const metaCharacters = new Set([...'.+()|{}$']);
const goEscapes = new Set([...'dDsSwWbBtnrfv']);

/** Pattern.compile: an exact, prefix (`x**`), suffix (`**x`) or regexp match. */
function compilePattern(text: string): (path: string) => boolean {
  const chars = [...text];
  let source = '^';
  let type: 'exact' | 'prefix' | 'suffix' | 'regexp' = 'exact';
  for (let i = 0, token = 0; i < chars.length; token++) {
    const ch = chars[i++] as string;
    if (ch === '*' && chars[i] === '*') {
      i++;
      if (chars[i] === '/') i++;
      if (i < chars.length) [source, type] = [`${source}([^\\n]*/)?`, 'regexp'];
      else if (type === 'exact') type = 'prefix';
      else [source, type] = [`${source}[^\\n]*`, 'regexp'];
      if (token === 0) type = 'suffix';
    } else if (ch === '*' || ch === '?') {
      [source, type] = [source + (ch === '*' ? '[^/]*' : '[^/]'), 'regexp'];
    } else if (ch === '\\') {
      [source, type] = [source + goEscape(chars[i++], text), 'regexp'];
    } else if (ch === '[' || ch === ']') {
      [source, type] = [source + ch, 'regexp'];
    } else {
      source += metaCharacters.has(ch) ? `\\${ch}` : ch;
    }
  }
  switch (type) {
    case 'exact':
      return (path) => path === text;
    case 'prefix':
      return (path) => path.startsWith(text.slice(0, -2));
    case 'suffix': {
      const suffix = text.slice(2);
      return (path) => path.endsWith(suffix) || (suffix.startsWith('/') && path === suffix.slice(1));
    }
    case 'regexp': {
      const regexp = goRegExp(`${source}$`, text);
      return (path) => regexp.test(path);
    }
  }
}

/** `\c` in a pattern: Go's regexp reads it as a literal for punctuation, as a class or control for some letters. */
function goEscape(ch: string | undefined, pattern: string): string {
  // filepath.Match, which patternmatcher.New asks first, refuses a trailing backslash.
  if (ch === undefined) throw new Error(`bad pattern ${JSON.stringify(pattern)}: it ends with a backslash`);
  const code = ch.codePointAt(0) as number;
  if (code < 0x80 && !/[A-Za-z0-9]/.test(ch)) return `\\x${code.toString(16).padStart(2, '0')}`;
  if (goEscapes.has(ch)) return `\\${ch}`;
  throw new Error(`bad pattern ${JSON.stringify(pattern)}: \\${ch} is not supported`);
}

/** The regexp in JavaScript: with `u` (`?` is one code point, as in Go) unless only the legacy syntax parses it (a lone `]`, a literal for Go). */
function goRegExp(source: string, pattern: string): RegExp {
  for (const flags of ['u', '']) {
    try {
      return new RegExp(source, flags);
    } catch {
      // tried next without `u`
    }
  }
  throw new Error(`bad pattern ${JSON.stringify(pattern)}`);
}

/** The walk of a context filtered by `patterns` (read from `file`), pruning as fsutil does. */
export function dockerignoreVisitor(patterns: string[], file = '.dockerignore'): Visitor<MatchInfo> {
  let matcher: PatternMatcher;
  try {
    matcher = new PatternMatcher(patterns);
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message}`);
  }
  const canPrune = pruner(matcher);
  return (path, kind, parent) => {
    const { matched, info } = matcher.matches(path, parent);
    if (!matched) return { keep: true, descend: kind === 'dir', state: info };
    // An excluded directory BuildKit still walks is sent only as the parent of what an
    // exception re-includes, and fsutil passes over a permission error there.
    return { keep: false, descend: kind === 'dir' && !canPrune(path), state: info, keepAsParent: true, unreadableOk: true };
  };
}

/**
 * fsutil's shortcut: an excluded directory is not read when no exception could re-include
 * anything beneath it. With a wildcard in an exception (other than a trailing `/*` or `/**`), any
 * directory could hold a match, so every excluded directory is walked.
 */
function pruner(matcher: PatternMatcher): (dir: string) => boolean {
  const exceptions = matcher.patterns.filter((pattern) => pattern.exclusion).map((pattern) => withoutTrailingGlob(pattern.text));
  if (exceptions.some((text) => /[*[\]?^\\]/.test(text))) return () => false;
  return (dir) => !exceptions.some((text) => `${text}/`.startsWith(`${dir}/`));
}

function withoutTrailingGlob(text: string): string {
  return text.replace(/\/\*\*$/, '').replace(/\/\*$/, '');
}

/**
 * Reads BuildKit's plain progress output as it streams (`#5 [base 1/2] COPY ...`, `#5 CACHED`,
 * `#10 ERROR: ...`): how many build steps came from the cache, and which cache imports and
 * exports failed without failing the build.
 */
export class BuildProgress {
  private readonly titles = new Map<string, string>();
  private readonly cached = new Set<string>();
  private readonly errors = new Map<string, string>();

  line(text: string): void {
    const match = /^#(\d+) (.*)$/.exec(text.trimEnd());
    if (!match) return;
    const [, id = '', rest = ''] = match;
    if (!this.titles.has(id)) {
      this.titles.set(id, rest);
      return;
    }
    if (rest === 'CACHED') this.cached.add(id);
    else if (rest.startsWith('ERROR: ')) this.errors.set(id, rest.slice('ERROR: '.length));
  }

  /** Build steps (`[stage n/m] ...`) and how many of them were cached; total 0 when the output was not plain. */
  cacheHits(): { cached: number; total: number } {
    const steps = [...this.titles].filter(([, title]) => /^\[[^\]]*\b\d+\/\d+\]/.test(title));
    return { cached: steps.filter(([id]) => this.cached.has(id)).length, total: steps.length };
  }

  /** `exporting cache to registry` steps that failed (ignore-error kept the build going). */
  failedExports(): string[] {
    return this.failed(/^exporting cache/);
  }

  /** `importing cache manifest from REF` steps that failed: nothing there yet, or no access. */
  failedImports(): string[] {
    return this.failed(/^importing cache/);
  }

  private failed(title: RegExp): string[] {
    return [...this.errors].flatMap(([id, error]) => {
      const name = this.titles.get(id) ?? '';
      return title.test(name) ? [`${name}: ${error}`] : [];
    });
  }
}

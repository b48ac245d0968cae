type Env = Record<string, string | undefined>;

/**
 * Meta-data keys stay distinct when several steps build: `buildkit.<step key>.digest`,
 * falling back to the step's id, with `.<n>` for each job of a parallel step.
 */
function reportNamespace(env: Env): string {
  const step = env.BUILDKITE_STEP_KEY || env.BUILDKITE_STEP_ID || 'local';
  const parallel = env.BUILDKITE_PARALLEL_JOB;
  return parallel ? `${step}.${parallel}` : step;
}

/** With a bake target: `buildkit.<ns>.<target>.digest`. */
export function metaDataKeys(env: Env, target?: string): { digest: string; refs: string; builder: string; scan: string; cacheHits: string; reused: string } {
  const ns = target ? `${reportNamespace(env)}.${target}` : reportNamespace(env);
  return {
    digest: `buildkit.${ns}.digest`,
    refs: `buildkit.${ns}.image-refs`,
    builder: `buildkit.${ns}.builder`,
    scan: `buildkit.${ns}.scan`,
    cacheHits: `buildkit.${ns}.cache-hits`,
    reused: `buildkit.${ns}.reused`,
  };
}

/** The build's annotation, and the scan's beside it (`-scan`). */
export function annotationContext(env: Env, part?: 'scan'): string {
  // The agent takes contexts of at most 100 characters: the part is kept, the namespace cut.
  const suffix = part ? `-${part}` : '';
  return `buildkit-${reportNamespace(env)}`.slice(0, 100 - suffix.length) + suffix;
}

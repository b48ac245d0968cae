import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  badConfigs,
  BadConfig,
  Form,
  forms,
  hostileConfig,
  hostilePayloads,
  judgeRejection,
  knownGaps,
  rejectedBy,
  stringOptionPaths,
} from '../support/bad-configs';
import { runPipelineStep, scratchDir, StepRun } from './support';

// The corpus of bad configurations (tests/support/bad-configs.ts, generated from plugin.yml)
// through the real hooks with the local runner, in each config form: every one fails before
// any build, each message names its option path, and nothing prints a stack trace. Then
// hostile values in every string option of a valid dry-run configuration: none is executed.
// Runs go side by side in batches; no engine is needed for them (the suite runs under
// scripts/with-engine.sh all the same).

jest.setTimeout(600_000);

const concurrency = Number(process.env.BAD_CONFIGS_CONCURRENCY ?? 6);
const stepRanMarker = 'STEP_RAN';

async function inBatches<T, R>(items: T[], run: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await run(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

/** Leftovers of the runner in a run's TMPDIR (runPipelineStep sets TMPDIR to the step's dir). */
function leftovers(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (name.startsWith('buildkit-local-') || name.startsWith('buildkit-plugin-exports.')) return [name];
    // The per-user root of the plugin's state dirs stays (jobs share it); a job's dir inside must not.
    if (/^buildkite-plugin-buildkit-\d+$/.test(name)) return readdirSync(join(dir, name)).map((job) => `${name}/${job}`);
    return [];
  });
}

async function runCase(c: BadConfig, form: Form): Promise<{ key: string; run: StepRun; problems: string[] }> {
  const dir = scratchDir('buildkit-e2e-bad-');
  writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
  const run = await runPipelineStep(
    dir,
    { key: 'bad', command: `touch ${stepRanMarker}`, config: c.config as Record<string, unknown> },
    { form, env: c.env ?? {} },
  );
  const problems = judgeRejection(c.paths, { code: run.code, output: run.output, hookMs: run.result.hookMs, stepRan: existsSync(join(dir, stepRanMarker)) });
  const left = leftovers(dir);
  if (left.length > 0) problems.push(`left behind: ${left.join(', ')}`);
  return { key: `${c.name}@${form}`, run, problems };
}

const corpus = badConfigs();
const summary: string[] = [];

afterAll(() => {
  if (summary.length > 0) process.stdout.write(`${summary.join('\n')}\n`);
});

test('the corpus holds at least 200 bad configurations, every known gap names a case', () => {
  expect(corpus.length).toBeGreaterThanOrEqual(200);
  const keys = new Set(corpus.flatMap((c) => c.forms.map((form) => `${c.name}@${form}`)));
  expect(Object.keys(knownGaps).filter((key) => !keys.has(key))).toEqual([]);
});

describe.each(forms)('bad configurations, %s form', (form) => {
  test('each fails before any build, naming its option path, with no stack trace (known gaps listed)', async () => {
    const cases = corpus.filter((c) => c.forms.includes(form));
    const results = await inBatches(cases, (c) => runCase(c, form));
    const failing = results.filter((r) => r.problems.length > 0);
    const unexpected = failing.filter((r) => knownGaps[r.key] === undefined).map((r) => `${r.key}: ${r.problems.join('; ')}`);
    const gapsStillOpen = failing.filter((r) => knownGaps[r.key] !== undefined).map((r) => r.key);
    const gapsClosed = Object.keys(knownGaps).filter((key) => key.endsWith(`@${form}`) && !gapsStillOpen.includes(key));
    const by: Record<string, number> = {};
    for (const r of results) {
      const how = rejectedBy({ code: r.run.code, output: r.run.output, hookMs: r.run.result.hookMs, stepRan: false });
      by[how] = (by[how] ?? 0) + 1;
    }
    summary.push(
      `bad configs, ${form} form: ${results.length - failing.length} of ${results.length} rejected cleanly ` +
        `(${Object.entries(by)
          .map(([k, n]) => `${k}: ${n}`)
          .join(', ')}); known gaps still open: ${gapsStillOpen.length}${gapsStillOpen.length ? ` (${gapsStillOpen.join(', ')})` : ''}`,
    );
    if (process.env.BAD_CONFIGS_REPORT) {
      writeFileSync(
        `${process.env.BAD_CONFIGS_REPORT}.${form}.json`,
        JSON.stringify(
          failing.map((r) => ({ key: r.key, problems: r.problems })),
          null,
          1,
        ),
      );
    }
    expect(unexpected).toEqual([]);
    // A gap that closed comes off the list.
    expect(gapsClosed).toEqual([]);
  });
});

test('hostile values in every string option of a valid dry-run configuration are passed literally: 0 executions', async () => {
  const markerDir = scratchDir('buildkit-e2e-markers-');
  const payloads = hostilePayloads(markerDir);
  // The first payload in both forms; the second (newlines) in the form agents use.
  const runs = stringOptionPaths().flatMap((path) =>
    payloads.flatMap((payload, index) => ((index === 0 ? ['both', 'flattened'] : ['both']) as Form[]).map((form) => ({ path, payload, form }))),
  );
  const results = await inBatches(runs, async ({ path, payload, form }) => {
    const dir = scratchDir('buildkit-e2e-hostile-');
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY src /src\n');
    const run = await runPipelineStep(dir, { key: 'hostile', command: 'true', config: hostileConfig(path, payload.value) }, { form });
    const problems: string[] = [];
    if (/^\s+at /m.test(run.output) || /TypeError|node:internal/.test(run.output)) problems.push('a stack trace');
    const left = leftovers(dir);
    if (left.length > 0) problems.push(`left behind: ${left.join(', ')}`);
    return { key: `${path} (${payload.name})@${form}`, code: run.code, problems };
  });
  const executed = readdirSync(markerDir);
  const accepted = results.filter((r) => r.code === 0).length;
  summary.push(
    `hostile values: ${results.length} runs (${accepted} accepted as dry-runs, ${results.length - accepted} refused), executions: ${executed.length}`,
  );
  expect(executed).toEqual([]);
  expect(results.filter((r) => r.problems.length > 0).map((r) => `${r.key}: ${r.problems.join('; ')}`)).toEqual([]);
});

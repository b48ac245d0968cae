import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { interpolate } from '../../src/cli/interpolate';
import { flatten } from '../../src/cli/plugin-env';
import { buildAnnotation, failureAnnotation } from '../../src/report/annotation';
import { readBuildMetadata } from '../../src/report/build-metadata';
import { annotationContext, metaDataKeys } from '../../src/report/meta-data-keys';
import { dockerHint } from '../../src/engines/docker-hints';
import { writeExports } from '../../src/run/exports';
import { shellCommand } from '../../src/run/shell-quote';
import { stateDirPath } from '../../src/run/state-dir';
import { scratchDir } from '../support/scratch';

describe('interpolate (pipeline upload)', () => {
  const env = { BUILD: '7', EMPTY: '' };
  test.each([
    ['$BUILD', '7'],
    ['${BUILD}-x', '7-x'],
    ['${MISSING:-dflt}', 'dflt'],
    ['${EMPTY:-dflt}', 'dflt'],
    ['${EMPTY-dflt}', ''],
    ['$$BUILD', '$BUILD'],
    ['$(id) `id` $', '$(id) `id` $'],
    ['$MISSING', ''],
  ])('%s → %s', (input, output) => {
    expect(interpolate(input, env)).toBe(output);
  });
});

describe('flatten (the agent rules)', () => {
  test('arrays, maps and scalars', () => {
    const into: Record<string, string> = {};
    flatten('P_X', { 'a-b': [1, true], 'c d': 'e' }, into);
    expect(into).toEqual({ P_X_A_B_0: '1', P_X_A_B_1: 'true', P_X_C_D: 'e' });
  });
});

describe('shell quoting', () => {
  test('what bash reads back is exactly what was written', () => {
    const words = ['plain', 'with space', `it's`, '$(id)', '`x`', 'a;b', '', 'new\nline'];
    const out = execFileSync('bash', ['-c', `printf '%s\\0' ${shellCommand(words)}`]).toString();
    expect(out.split('\0').slice(0, -1)).toEqual(words);
  });

  test('the exports file round-trips through bash', () => {
    const file = join(scratchDir('exports-'), 'exports');
    writeFileSync(file, '');
    const value = `a 'b' "c" $(d) \`e\`\nf`;
    writeExports({ BUILDKIT_TEST_VALUE: value }, { BUILDKIT_PLUGIN_EXPORTS_FILE: file });
    const out = execFileSync('bash', ['-c', `. ${file}; printf '%s' "$BUILDKIT_TEST_VALUE"`]).toString();
    expect(out).toBe(value);
  });
});

describe('report naming', () => {
  test('keys use the step key, else the step id, plus the parallel index', () => {
    expect(metaDataKeys({ BUILDKITE_STEP_KEY: 'app', BUILDKITE_STEP_ID: 'id' })).toEqual({
      digest: 'buildkit.app.digest',
      refs: 'buildkit.app.image-refs',
      builder: 'buildkit.app.builder',
      scan: 'buildkit.app.scan',
      cacheHits: 'buildkit.app.cache-hits',
      reused: 'buildkit.app.reused',
    });
    expect(metaDataKeys({ BUILDKITE_STEP_ID: 'abc' }).digest).toBe('buildkit.abc.digest');
    expect(metaDataKeys({ BUILDKITE_STEP_KEY: 'app', BUILDKITE_PARALLEL_JOB: '2' }).digest).toBe('buildkit.app.2.digest');
    expect(annotationContext({ BUILDKITE_STEP_KEY: 'app' })).toBe('buildkit-app');
    expect(annotationContext({ BUILDKITE_STEP_KEY: 'app' }, 'scan')).toBe('buildkit-app-scan');
  });

  test('annotation body', () => {
    expect(buildAnnotation({ label: ':docker: <b>', refs: ['r/a:1'], pushed: true, digest: 'sha256:abc', seconds: 3.25 })).toBe(
      '#### :docker: &lt;b&gt; in 3.3 s\n\nPushed:\n\n- `r/a:1`\n\nDigest: `sha256:abc`\n',
    );
  });

  test('a failure annotation holds the hint and the end of the output, fences defused', () => {
    expect(failureAnnotation('build', 1, ['#1 x', 'ERROR: ```boom```'], 'start <Docker>')).toBe(
      "#### build failed (exit 1)\n\nstart &lt;Docker&gt;\n\n```term\n#1 x\nERROR: '''boom'''\n```\n",
    );
  });

  test('the digest comes from the metadata file; a missing file gives none', () => {
    const dir = scratchDir('meta-');
    writeFileSync(join(dir, 'm.json'), JSON.stringify({ 'containerimage.digest': 'sha256:1' }));
    expect(readBuildMetadata(join(dir, 'm.json'))).toEqual({ digest: 'sha256:1', isIndex: false, targets: {} });
    writeFileSync(
      join(dir, 'i.json'),
      JSON.stringify({ 'containerimage.digest': 'sha256:2', 'containerimage.descriptor': { mediaType: 'application/vnd.oci.image.index.v1+json' } }),
    );
    expect(readBuildMetadata(join(dir, 'i.json'))).toEqual({ digest: 'sha256:2', isIndex: true, targets: {} });
    expect(readBuildMetadata(join(dir, 'none.json'))).toEqual({ targets: {} });
  });
});

describe('state directory', () => {
  test('keyed by job id under a per-user root; an exported path wins', () => {
    expect(stateDirPath({ TMPDIR: '/t', BUILDKITE_JOB_ID: 'a/b' })).toBe(`/t/buildkite-plugin-buildkit-${process.getuid?.()}/a_b`);
    expect(stateDirPath({ BUILDKIT_PLUGIN_STATE_DIR: '/x' })).toBe('/x');
  });
});

describe('dockerHint', () => {
  test.each([
    ['ERROR: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?', /no Docker engine answered/],
    ["docker: 'buildx' is not a docker command.", /no buildx plugin/],
  ])('%s', (line, hint) => {
    expect(dockerHint(['#0 building', line])).toMatch(hint);
  });

  test('a build failure of the build itself gets no hint', () => {
    expect(dockerHint(['ERROR: failed to solve: process "/bin/sh -c exit 7" did not complete successfully: exit code: 7'])).toBeUndefined();
  });
});

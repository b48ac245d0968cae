import { pluginEnv } from '../../src/cli/plugin-env';
import { loadConfig } from '../../src/config/load-config';

const image = 'registry.example.com/team/app';
const sha = '1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b';

function load(config: Record<string, unknown>, env: Record<string, string>, form: 'json' | 'flattened' = 'json') {
  return loadConfig({ PATH: '/usr/bin', ...pluginEnv('buildkit#v1', { image, push: true, ...config }, form), ...env });
}

const main = { BUILDKITE_BRANCH: 'main', BUILDKITE_PIPELINE_DEFAULT_BRANCH: 'main', BUILDKITE_COMMIT: sha };

describe('tag-rules', () => {
  test.each([
    ['default branch', main, ['sha', 'branch', 'semver', 'latest'], ['1a2b3c4', 'main', 'latest']],
    ['feature branch', { ...main, BUILDKITE_BRANCH: 'feature/Login' }, ['sha', 'branch', 'latest'], ['1a2b3c4', 'feature-Login']],
    ['a release tag', { ...main, BUILDKITE_BRANCH: 'v1.2.3', BUILDKITE_TAG: 'v1.2.3' }, ['semver', 'latest'], ['1.2.3', '1.2', '1']],
    ['a release with build metadata', { ...main, BUILDKITE_BRANCH: 'v1.2.3+build.5', BUILDKITE_TAG: 'v1.2.3+build.5' }, ['semver'], ['1.2.3', '1.2', '1']],
    ['a pre-release tag', { ...main, BUILDKITE_BRANCH: 'v2.0.0-rc.1', BUILDKITE_TAG: 'v2.0.0-rc.1' }, ['semver'], ['2.0.0-rc.1']],
    ['a pull request from the default branch name', { ...main, BUILDKITE_PULL_REQUEST: '12' }, ['latest', 'sha'], ['1a2b3c4']],
  ])('%s', (_name, env, rules, tags) => {
    for (const form of ['json', 'flattened'] as const) {
      const loaded = load({ 'tag-rules': rules }, env, form);
      if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
      expect(loaded.config.refs).toEqual(tags.map((tag) => `${image}:${tag}`));
    }
  });

  test('added to tags; no latest by default; a tag that is not a version gets a notice', () => {
    const loaded = load({ tags: ['build-7'], 'tag-rules': ['semver'] }, { ...main, BUILDKITE_TAG: 'nightly' });
    expect(loaded.ok && loaded.config.refs).toEqual([`${image}:build-7`]);
    expect(loaded.ok && loaded.notices).toContain('tag-rules: semver: BUILDKITE_TAG "nightly" is not a semantic version; no semver tags');
  });

  test('no tag at all: it builds without pushing, never as latest', () => {
    const loaded = load({ 'tag-rules': ['semver'] }, main);
    expect(loaded.ok && loaded.config).toMatchObject({ refs: [], push: false });
    expect(loaded.ok && loaded.notices).toContain('tag-rules: no rule gives this build a tag (and tags gives none): it builds without pushing');
  });

  test('refused without a bare image, with an unknown rule, and with bake', () => {
    const errorsOf = (config: Record<string, unknown>) => {
      const loaded = loadConfig({ PATH: '/usr/bin', ...pluginEnv('buildkit#v1', config, 'json'), ...main });
      return loaded.ok ? [] : loaded.errors;
    };
    expect(errorsOf({ tags: ['r/app:1'], 'tag-rules': ['sha'] })).toContain(
      'tag-rules: the tags go on image; set image to a repository without a tag, such as registry.example.com/team/app',
    );
    expect(errorsOf({ image: 'r/app:1', 'tag-rules': ['sha'] })).toContain(
      'tag-rules: the tags go on image; set image to a repository without a tag, such as registry.example.com/team/app',
    );
    expect(errorsOf({ image, 'tag-rules': ['date'] })).toEqual(['tag-rules[0]: expected one of sha, branch, semver, latest; got string "date"']);
    expect(errorsOf({ bake: { files: ['x.hcl'] }, 'tag-rules': ['sha'] })).toContain(
      'tag-rules: describes a single build; with bake, set it in the bake file or with bake.set',
    );
  });
});

describe('push-branches', () => {
  test.each([
    ['main', true],
    ['release/1.2', true],
    ['release/1.2/hotfix', false],
    ['feature/x', false],
  ])('%s pushes: %s', (branch, pushes) => {
    const loaded = load(
      { tags: ['1'], 'push-branches': ['main', 'release/*', 'hotfix/**'], scan: { command: 'trivy' }, 'skip-unchanged': true },
      { ...main, BUILDKITE_BRANCH: branch },
    );
    if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
    expect(loaded.config.push).toBe(pushes);
    expect(loaded.config.scan !== undefined).toBe(pushes);
    expect(loaded.config.skipUnchanged !== undefined).toBe(pushes);
    if (!pushes)
      expect(loaded.notices).toContain(`push-branches: "${branch}" matches none of main, release/*, hotfix/**: building without push, scan, skip-unchanged`);
  });

  test('an output that pushes stops pushing too', () => {
    const loaded = load({ push: false, outputs: ['type=image,name=r/app:1,push=true'], 'push-branches': 'main' }, { ...main, BUILDKITE_BRANCH: 'dev' });
    expect(loaded.ok && loaded.config.outputs).toEqual([{ type: 'image', attrs: [{ key: 'name', value: 'r/app:1' }] }]);
  });
});

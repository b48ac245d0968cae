import { pluginEnv } from '../../src/cli/plugin-env';
import { loadConfig } from '../../src/config/load-config';

const image = 'registry.example.com/team/app';
const digest = `sha256:${'b'.repeat(64)}`;

function load(config: Record<string, unknown>, form: 'json' | 'flattened' = 'json', env: Record<string, string> = {}) {
  return loadConfig({ PATH: '/usr/bin', ...pluginEnv('buildkit#v1', config, form), ...env });
}
const errorsOf = (config: Record<string, unknown>, form: 'json' | 'flattened' = 'json') => {
  const loaded = load(config, form);
  return loaded.ok ? [] : loaded.errors;
};

describe('promote: the option', () => {
  test.each(['json', 'flattened'] as const)('%s: from a step key or a digest, to tags of image or full refs', (form) => {
    const fromStep = load({ image, promote: { from: 'build', tags: ['1.0', 'other.example.com/app:1.0'] } }, form);
    expect(fromStep.ok && fromStep.config).toMatchObject({
      promote: { from: { step: 'build' }, tags: ['1.0', 'other.example.com/app:1.0'] },
      refs: [`${image}:1.0`, 'other.example.com/app:1.0'],
      push: true,
    });
    const fromDigest = load({ promote: { from: `${image}@${digest}`, tags: `${image}:stable` } }, form);
    expect(fromDigest.ok && fromDigest.config.promote?.from).toEqual({ ref: `${image}@${digest}` });
  });

  test('with tag-rules, the rules give the tags; never latest by default', () => {
    const loaded = load({ image, promote: { from: 'build' }, 'tag-rules': ['semver'] }, 'json', { BUILDKITE_TAG: 'v2.1.0' });
    expect(loaded.ok && loaded.config.refs).toEqual([`${image}:2.1.0`, `${image}:2.1`, `${image}:2`]);
  });

  test('refusals name the option', () => {
    expect(errorsOf({ image, promote: { from: `${image}@sha256:abc`, tags: ['1'] } })).toEqual([
      `promote.from: expected a step key or an image by digest (registry.example.com/app@sha256:...); got "${image}@sha256:abc"`,
    ]);
    expect(errorsOf({ image, promote: { from: 'a b', tags: ['1'] } })).toHaveLength(1);
    expect(errorsOf({ image, promote: { from: 'build' } })).toEqual(['promote.tags: give the tags to promote to (or tag-rules)']);
    expect(errorsOf({ image, promote: { tags: ['1'] } })).toEqual(['promote.from: is required']);
    expect(errorsOf({ image, push: true, platforms: ['linux/amd64'], promote: { from: 'build', tags: ['1'] } })).toEqual([
      'push: a promote step builds nothing; build in the step promote.from names',
      'platforms: a promote step builds nothing; build in the step promote.from names',
    ]);
  });
});

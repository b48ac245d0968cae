import { pluginEnvName } from '../../src/config/plugin-name';

describe('pluginEnvName (the agent prefix of flattened options)', () => {
  test.each([
    ['buildkit#v1', 'BUILDKIT'],
    ['my-org/buildkit#v1', 'BUILDKIT'],
    ['github.com/my-org/buildkit-buildkite-plugin#v1.2.3', 'BUILDKIT'],
    ['./.buildkite/plugins/buildkit', 'BUILDKIT'],
    ['https://github.com/my-org/buildkit-buildkite-plugin.git#v1', 'BUILDKIT'],
    ['ssh://git@github.com/my-org/my-buildkit-buildkite-plugin#main', 'MY_BUILDKIT'],
    ['docker-compose#v5.0.0', 'DOCKER_COMPOSE'],
  ])('%s → %s', (key, expected) => {
    expect(pluginEnvName(key)).toBe(expected);
  });
});

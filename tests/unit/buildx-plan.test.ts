import { pluginEnv } from '../../src/cli/plugin-env';
import { loadConfig } from '../../src/config/load-config';
import { planJob } from '../../src/plan/plan';

const stateDir = '/state/job';
const meta = ['--metadata-file', `${stateDir}/build-metadata.json`];

function argvFor(config: Record<string, unknown>, env: Record<string, string> = {}): string[] {
  const loaded = loadConfig(pluginEnv('buildkit#v1', config, 'json'));
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  return planJob(loaded.config, env, stateDir, { docker: true }).build.argv;
}

describe('docker buildx build argv, option by option', () => {
  test.each<[string, Record<string, unknown>, string[]]>([
    ['defaults', {}, [...meta, '.']],
    ['context', { context: 'app' }, [...meta, 'app']],
    ['context starting with a dash', { context: '-weird' }, [...meta, './-weird']],
    ['dockerfile', { dockerfile: 'docker/Dockerfile.prod' }, ['--file', 'docker/Dockerfile.prod', ...meta, '.']],
    ['target', { target: 'runtime' }, ['--target', 'runtime', ...meta, '.']],
    ['build-args map', { 'build-args': { GREETING: 'hi', N: 2, ON: true } }, ['--build-arg', 'GREETING=hi', '--build-arg', 'N=2', '--build-arg', 'ON=true', ...meta, '.']],
    ['build-args list', { 'build-args': ['A=1', 'B=x=y'] }, ['--build-arg', 'A=1', '--build-arg', 'B=x=y', ...meta, '.']],
    ['labels map', { labels: { 'org.example.team': 'core' } }, ['--label', 'org.example.team=core', ...meta, '.']],
    ['labels list', { labels: ['a=b c'] }, ['--label', 'a=b c', ...meta, '.']],
    ['network', { network: 'none' }, ['--network', 'none', ...meta, '.']],
    ['image alone is :latest', { image: 'registry.example.com/app' }, ['--tag', 'registry.example.com/app:latest', ...meta, '.']],
    ['image with a tag', { image: 'registry.example.com/app:1.0' }, ['--tag', 'registry.example.com/app:1.0', ...meta, '.']],
    [
      'bare tags appended, full refs kept, duplicates dropped',
      { image: '127.0.0.1:5000/hello', tags: ['7', 'latest', 'mirror.example.com/hello:7', 'latest'] },
      ['--tag', '127.0.0.1:5000/hello:7', '--tag', '127.0.0.1:5000/hello:latest', '--tag', 'mirror.example.com/hello:7', ...meta, '.'],
    ],
    ['branch names sanitised', { image: 'r/app', tags: ['feature/Login#2', '.hidden'] }, ['--tag', 'r/app:feature-Login-2', '--tag', 'r/app:hidden', ...meta, '.']],
    ['push', { image: 'r/app', push: true }, ['--tag', 'r/app:latest', '--push', ...meta, '.']],
    ['no-cache', { 'no-cache': true }, ['--no-cache', ...meta, '.']],
    ['progress', { progress: 'rawjson' }, [...meta, '.']],
  ])('%s', (_name, config, tail) => {
    const progress = (config.progress as string) ?? 'plain';
    expect(argvFor(config)).toEqual(['docker', 'buildx', 'build', '--progress', progress, ...tail]);
  });

  test('options come out in a fixed order', () => {
    expect(
      argvFor({
        image: 'r/app',
        tags: ['1'],
        push: true,
        'no-cache': true,
        target: 't',
        dockerfile: 'D',
        'build-args': { A: '1' },
        labels: { L: '2' },
        network: 'host',
        context: 'c',
      }),
    ).toEqual([
      'docker', 'buildx', 'build', '--progress', 'plain', '--file', 'D', '--target', 't', '--build-arg', 'A=1', '--label', 'L=2',
      '--network', 'host', '--tag', 'r/app:1', '--push', '--no-cache', ...meta, 'c',
    ]);
  });

  test('a bare build-arg takes its value from the job environment, or is left out with a notice', () => {
    const loaded = loadConfig(pluginEnv('buildkit#v1', { 'build-args': ['TOKENLESS', 'MISSING'] }, 'json'));
    if (!loaded.ok) throw new Error('invalid');
    const plan = planJob(loaded.config, { TOKENLESS: 'from env' }, stateDir, { docker: true });
    expect(plan.build.argv).toContain('TOKENLESS=from env');
    expect(plan.build.argv.join(' ')).not.toContain('MISSING');
    expect(plan.notices).toEqual(['build-args: MISSING is not set in the environment; not passed']);
  });

  test('shell metacharacters stay single argv words', () => {
    const value = `$(touch /tmp/pwned) \`id\` "q" 'q'; rm -rf /`;
    const argv = argvFor({ 'build-args': { EVIL: value }, labels: { evil: value } });
    expect(argv).toContain(`EVIL=${value}`);
    expect(argv).toContain(`evil=${value}`);
  });

  test('sanitised tags are announced', () => {
    const loaded = loadConfig(pluginEnv('buildkit#v1', { image: 'r/app', tags: ['feature/x'] }, 'json'));
    if (!loaded.ok) throw new Error('invalid');
    expect(planJob(loaded.config, {}, stateDir, { docker: true }).notices).toEqual([
      'tags[0]: "feature/x" is not a valid tag; using "feature-x"',
    ]);
  });

  test('no docker CLI: a clear error', () => {
    const loaded = loadConfig({});
    if (!loaded.ok) throw new Error('invalid');
    expect(() => planJob(loaded.config, {}, stateDir, { docker: false })).toThrow(/no BuildKit engine found: the docker CLI is not on PATH/);
  });
});

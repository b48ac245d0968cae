import { readCsvRecord, writeCsvRecord } from '../../src/config/csv';
import { parseExporterSpec } from '../../src/config/exporter';
import { sanitizeTag } from '../../src/config/image-refs';
import { sourceUrl } from '../../src/plan/oci-labels';
import { parseBuildkitVersion, parseVersion, versionSatisfies } from '../../src/plan/version-warnings';

describe("CSV records as Go's encoding/csv reads them (buildx and buildctl specs)", () => {
  test.each<[string, string[]]>([
    ['type=local,dest=out', ['type=local', 'dest=out']],
    ['type=local,"dest=a,b"', ['type=local', 'dest=a,b']],
    ['"type=image,name=r/a:1,r/a:2",push=true', ['type=image,name=r/a:1,r/a:2', 'push=true']],
    ['type=tar,"dest=say ""hi"""', ['type=tar', 'dest=say "hi"']],
    ['type=local, dest = out ,', ['type=local', ' dest = out ', '']],
    ['type=registry,"annotation=a\nb"', ['type=registry', 'annotation=a\nb']],
    ['a,,b', ['a', '', 'b']],
    ['""', ['']],
    ['first\nsecond', ['first']],
  ])('%j', (spec, fields) => {
    expect(readCsvRecord(spec)).toEqual(fields);
  });

  test.each([
    ['type=local,dest="a,b"', /bare " in a field that is not quoted, at column 17/],
    ['a"b"c', /bare " in a field that is not quoted, at column 2/],
    ['type=local,"dest=x', /unterminated quote in the field at column 12/],
    ['"a"b,c', /extraneous or missing " in the quoted field at column 1/],
    [' "a"', /bare "/],
  ])('%j is an error', (spec, message) => {
    expect(() => readCsvRecord(spec)).toThrow(message);
  });

  test.each<[string[], string]>([
    [['type=local', 'dest=out'], 'type=local,dest=out'],
    [['type=local', 'dest=a,b'], 'type=local,"dest=a,b"'],
    [['dest=say "hi"'], '"dest=say ""hi"""'],
    [['annotation=a\nb'], '"annotation=a\nb"'],
    [[' lead'], '" lead"'],
    [['\\.'], '"\\."'],
    [['', 'x'], ',x'],
  ])('writes %j as %j, and reads it back', (fields, text) => {
    expect(writeCsvRecord(fields)).toBe(text);
    expect(readCsvRecord(text)).toEqual(fields);
  });
});

describe('exporter specs', () => {
  test('type and fields, in order; keys are lower-cased as buildx does', () => {
    expect(parseExporterSpec('type=image,Name=r/a,push=true')).toEqual({
      type: 'image',
      attrs: [
        { key: 'name', value: 'r/a' },
        { key: 'push', value: 'true' },
      ],
    });
  });

  test.each([
    ['type=local,dest', /expected key=value fields; got "dest"/],
    ['dest=out', /expected a type= field/],
    ['-', /standard output/],
  ])('%j is refused', (spec, message) => {
    expect(() => parseExporterSpec(spec)).toThrow(message);
  });
});

describe('sourceUrl (org.opencontainers.image.source)', () => {
  test.each([
    ['https://github.com/acme/app.git', 'https://github.com/acme/app'],
    ['https://user:pass@gitlab.example.com/acme/app.git', 'https://gitlab.example.com/acme/app'],
    ['git@github.com:acme/app.git', 'https://github.com/acme/app'],
    ['ssh://git@bitbucket.org:7999/acme/app.git', 'https://bitbucket.org/acme/app'],
    ['', undefined],
    ['not a url', undefined],
  ])('%s → %s', (repo, url) => {
    expect(sourceUrl(repo)).toBe(url);
  });
});

describe('tags and versions', () => {
  test.each([
    ['feature/login', 'feature-login'],
    ['-rc.1', 'rc.1'],
    ['ok_1.2-x', 'ok_1.2-x'],
    ['x'.repeat(200), 'x'.repeat(128)],
  ])('sanitizeTag(%s)', (raw, clean) => {
    expect(sanitizeTag(raw)).toBe(clean);
  });

  test('buildx version output and comparisons', () => {
    expect(parseVersion('github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3')).toBe('0.13.1+ds1');
    expect(parseVersion('github.com/docker/buildx v0.17.1-desktop.1 abc')).toBe('0.17.1-desktop.1');
    expect(parseVersion('buildctl github.com/moby/buildkit v0.13.2 2e18d709')).toBe('0.13.2');
    expect(versionSatisfies('0.13.1+ds1', '0.13.0')).toBe(true);
    expect(versionSatisfies('0.9.10', '0.10.0')).toBe(false);
    expect(versionSatisfies('1.0.0', '0.13.0')).toBe(true);
    expect(versionSatisfies('0.13.0-rc1', '0.13.0')).toBe(false);
    expect(versionSatisfies('0.17.1-desktop.1', '0.13.0')).toBe(true);
    expect(parseBuildkitVersion('Status:           running\nBuildKit version: v0.13.2\nPlatforms: linux/amd64')).toBe('0.13.2');
    expect(parseBuildkitVersion('BuildKit version: v0.0.0+unknown')).toBeUndefined();
    expect(parseBuildkitVersion('Buildkit:  v0.12.5')).toBe('0.12.5');
  });
});

import { credentialSource } from '../../src/registry/docker-credentials';
import { RegistryError } from '../../src/registry/distribution';
import { isLocalHost, manifestReference, parseReference } from '../../src/registry/reference';
import { answerError } from '../../src/registry/registry-error';
import { mergeScopes, parseChallenges } from '../../src/registry/registry-http';

const digest = `sha256:${'a'.repeat(64)}`;

describe('image references, read as Docker reads them', () => {
  test.each([
    ['alpine', { name: 'alpine', registry: 'docker.io', apiHost: 'registry-1.docker.io', path: 'library/alpine', tag: undefined, digest: undefined }],
    ['alpine:3.20', { name: 'alpine', registry: 'docker.io', apiHost: 'registry-1.docker.io', path: 'library/alpine', tag: '3.20', digest: undefined }],
    ['acme/app:v1', { name: 'acme/app', registry: 'docker.io', apiHost: 'registry-1.docker.io', path: 'acme/app', tag: 'v1', digest: undefined }],
    [
      'docker.io/alpine',
      { name: 'docker.io/alpine', registry: 'docker.io', apiHost: 'registry-1.docker.io', path: 'library/alpine', tag: undefined, digest: undefined },
    ],
    [
      'index.docker.io/acme/app',
      { name: 'index.docker.io/acme/app', registry: 'docker.io', apiHost: 'registry-1.docker.io', path: 'acme/app', tag: undefined, digest: undefined },
    ],
    ['localhost/app', { name: 'localhost/app', registry: 'localhost', apiHost: 'localhost', path: 'app', tag: undefined, digest: undefined }],
    [
      'localhost:5000/team/app:x',
      { name: 'localhost:5000/team/app', registry: 'localhost:5000', apiHost: 'localhost:5000', path: 'team/app', tag: 'x', digest: undefined },
    ],
    ['127.0.0.1:5000/app:x', { name: '127.0.0.1:5000/app', registry: '127.0.0.1:5000', apiHost: '127.0.0.1:5000', path: 'app', tag: 'x', digest: undefined }],
    ['[::1]:5000/app', { name: '[::1]:5000/app', registry: '[::1]:5000', apiHost: '[::1]:5000', path: 'app', tag: undefined, digest: undefined }],
    ['Registry/app', { name: 'Registry/app', registry: 'Registry', apiHost: 'Registry', path: 'app', tag: undefined, digest: undefined }],
    [
      'ghcr.io/acme/tools/app:1.0',
      { name: 'ghcr.io/acme/tools/app', registry: 'ghcr.io', apiHost: 'ghcr.io', path: 'acme/tools/app', tag: '1.0', digest: undefined },
    ],
    [`ghcr.io/acme/app@${digest}`, { name: 'ghcr.io/acme/app', registry: 'ghcr.io', apiHost: 'ghcr.io', path: 'acme/app', tag: undefined, digest }],
    [`ghcr.io/acme/app:v1@${digest}`, { name: 'ghcr.io/acme/app', registry: 'ghcr.io', apiHost: 'ghcr.io', path: 'acme/app', tag: 'v1', digest }],
  ])('%s', (ref, expected) => {
    expect(parseReference(ref)).toEqual(expected);
  });

  test('host:5000 alone is the repository `host` with the tag 5000, as Docker reads it', () => {
    expect(parseReference('host:5000')).toMatchObject({ registry: 'docker.io', path: 'library/host', tag: '5000' });
  });

  test.each([
    ['empty', ''],
    ['upper case', 'Alpine'],
    ['an empty tag', 'app:'],
    ['an empty component', 'a//b'],
    ['a leading dash', '-app'],
    ['a short digest', 'app@sha256:abc'],
    ['a tag starting with a dash', 'ghcr.io/acme/app:-v1'],
    ['a name over 255 characters', `ghcr.io/${'a'.repeat(250)}`],
  ])('%s is refused', (_, ref) => {
    expect(() => parseReference(ref)).toThrow(new RegistryError(`${JSON.stringify(ref)} is not an image reference`));
  });

  test('the manifest asked for: the digest when there is one, else the tag, else latest', () => {
    expect(manifestReference(parseReference(`ghcr.io/a:v1@${digest}`))).toBe(digest);
    expect(manifestReference(parseReference('ghcr.io/a:v1'))).toBe('v1');
    expect(manifestReference(parseReference('ghcr.io/a'))).toBe('latest');
  });

  test.each([
    ['localhost', true],
    ['localhost:5000', true],
    ['127.0.0.1:5000', true],
    ['127.8.9.10', true],
    ['[::1]:5000', true],
    ['128.0.0.1:5000', false],
    ['127.0.0.1.example.com', false],
    ['localhost.example.com:5000', false],
    ['registry-1.docker.io', false],
  ])('%s may speak plain HTTP: %s', (host, local) => {
    expect(isLocalHost(host)).toBe(local);
  });
});

describe('WWW-Authenticate challenges', () => {
  test('a Bearer challenge, as distribution and Docker Hub send it', () => {
    expect(parseChallenges(['Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"'])).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' } },
    ]);
  });

  test('several scopes, quoted commas and escapes, bare values, spaces around =', () => {
    expect(
      parseChallenges([
        'bearer realm = "https://r.example/t?a=1,b=2", scope="repository:a:pull,push repository:b:pull",error=insufficient_scope, x="say \\"hi\\""',
      ]),
    ).toEqual([
      {
        scheme: 'bearer',
        params: { realm: 'https://r.example/t?a=1,b=2', scope: 'repository:a:pull,push repository:b:pull', error: 'insufficient_scope', x: 'say "hi"' },
      },
    ]);
  });

  test('several challenges in one header and in several headers', () => {
    expect(parseChallenges(['Basic realm="Registry Realm", Bearer realm="https://a/token",service="s"', 'Negotiate'])).toEqual([
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
      { scheme: 'bearer', params: { realm: 'https://a/token', service: 's' } },
      { scheme: 'negotiate', params: {} },
    ]);
  });

  test('nothing usable', () => {
    expect(parseChallenges([])).toEqual([]);
    expect(parseChallenges(['realm="x"'])).toEqual([]);
  });
});

describe('token scopes', () => {
  test('one scope per resource, with every action asked for, ours first', () => {
    expect(mergeScopes(['repository:a:pull,push', 'repository:a:pull', 'repository:b:pull', ''])).toEqual(['repository:a:pull,push', 'repository:b:pull']);
    expect(mergeScopes(['repository:a:pull', 'repository:a:push', 'registry:catalog:*'])).toEqual(['repository:a:pull,push', 'registry:catalog:*']);
    expect(mergeScopes([])).toEqual([]);
  });
});

describe("where a registry's credentials come from, in the docker CLI's order", () => {
  const auths = { '127.0.0.1:5000': { auth: 'dTpw' } };

  test('credHelpers for the host wins over credsStore and auths', () => {
    expect(credentialSource({ credHelpers: { '127.0.0.1:5000': 'ecr-login' }, credsStore: 'desktop', auths }, '127.0.0.1:5000')).toEqual({
      key: '127.0.0.1:5000',
      helper: 'ecr-login',
    });
  });

  test('then credsStore, over auths', () => {
    expect(credentialSource({ credHelpers: { 'other.example': 'x' }, credsStore: 'desktop', auths }, '127.0.0.1:5000')).toEqual({
      key: '127.0.0.1:5000',
      helper: 'desktop',
    });
  });

  test('then auths', () => {
    expect(credentialSource({ credHelpers: { 'other.example': 'x' }, credsStore: '', auths }, '127.0.0.1:5000')).toEqual({
      key: '127.0.0.1:5000',
      auths: { auth: 'dTpw' },
    });
  });

  test('an auths key with a scheme or a path names the same host; an exact key wins', () => {
    expect(credentialSource({ auths: { 'https://ghcr.io': { username: 'a' } } }, 'ghcr.io')).toMatchObject({ auths: { username: 'a' } });
    expect(credentialSource({ auths: { 'https://ghcr.io/v2/': { username: 'b' } } }, 'ghcr.io')).toMatchObject({ auths: { username: 'b' } });
    expect(credentialSource({ auths: { 'https://ghcr.io': { username: 'a' }, 'ghcr.io': { username: 'c' } } }, 'ghcr.io')).toMatchObject({
      auths: { username: 'c' },
    });
    expect(credentialSource({ credHelpers: { 'https://ghcr.io': 'gh' } }, 'ghcr.io')).toMatchObject({ helper: 'gh' });
  });

  test("Docker Hub's key is its v1 URL", () => {
    const hub = { auths: { 'https://index.docker.io/v1/': { username: 'hub' } } };
    expect(credentialSource(hub, 'docker.io')).toEqual({ key: 'https://index.docker.io/v1/', auths: { username: 'hub' } });
    expect(credentialSource({ credHelpers: { 'https://index.docker.io/v1/': 'hub' } }, 'docker.io')).toEqual({
      key: 'https://index.docker.io/v1/',
      helper: 'hub',
    });
  });

  test('none: another host, or a port that differs', () => {
    expect(credentialSource({ auths: { 'ghcr.io': {} } }, 'quay.io')).toEqual({ key: 'quay.io', none: true });
    expect(credentialSource({ auths: { '127.0.0.1:5000': {} } }, '127.0.0.1:5001')).toEqual({ key: '127.0.0.1:5001', none: true });
    expect(credentialSource({}, 'ghcr.io')).toEqual({ key: 'ghcr.io', none: true });
  });
});

describe("a registry's error answer", () => {
  test('the codes and messages of its JSON body, the status and a note', () => {
    const body = JSON.stringify({ errors: [{ code: 'DENIED', message: 'requested access to the resource is denied', detail: { x: 1 } }] });
    const error = answerError('127.0.0.1:5000/app:x', 403, 'Forbidden', body);
    expect(error).toBeInstanceOf(RegistryError);
    expect(error.message).toBe('127.0.0.1:5000/app:x: DENIED: requested access to the resource is denied (HTTP 403)');
    expect(error.status).toBe(403);
    expect(error.codes).toEqual(['DENIED']);
  });

  test('several errors; a code with no message; a note', () => {
    const body = JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }, { code: 'NAME_UNKNOWN' }] });
    expect(answerError('r', 401, 'Unauthorized', body, 'credentials from docker-credential-x').message).toBe(
      'r: UNAUTHORIZED: authentication required; NAME_UNKNOWN (HTTP 401; credentials from docker-credential-x)',
    );
  });

  test('a text body: its first line; none: the status text', () => {
    expect(answerError('r', 502, 'Bad Gateway', '<html>upstream down\n<body>').message).toBe('r: <html>upstream down (HTTP 502)');
    expect(answerError('r', 500, 'Internal Server Error', '').message).toBe('r: Internal Server Error (HTTP 500)');
    expect(answerError('r', 500, 'Internal Server Error', '{"errors":"no"}').message).toBe('r: {"errors":"no"} (HTTP 500)');
  });
});

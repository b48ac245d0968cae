import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rankEndpoints } from '../../src/engines/endpoints';
import {
  Certificates,
  Daemon,
  buildkitBinDir,
  daemonless,
  daemonlessTempDirs,
  daemonsUsing,
  describeWithBuildkitd,
  makeCertificates,
  pathWithoutDocker,
  startBuildkitd,
  systemToolsBut,
  withBuildctl,
} from './buildkitd';
import {
  StepRun,
  checkout,
  expectSuccess,
  multiarchCheckout,
  platformManifests,
  registryImage,
  registryManifest,
  runPipelineStep,
  testRegistry,
} from './support';

jest.setTimeout(120_000);

/** The step command records what the build exported to it (`$$`: not interpolated at upload). */
const recordEnv = 'printf "%s\\n%s\\n%s\\n" "$$BUILDKIT_IMAGE_DIGEST" "$$BUILDKIT_IMAGE_REFS" "$${BUILDKIT_HOST:-}" > step-env';

function stepEnv(dir: string): { digest: string; refs: string; host: string } {
  const [digest = '', refs = '', host = ''] = readFileSync(join(dir, 'step-env'), 'utf8').split('\n');
  return { digest, refs, host };
}

/** The digest is in the meta-data and the step command's environment, and the registry has it. */
async function expectPushed(run: StepRun, dir: string, registry: string, repo: string, key: string): Promise<string> {
  expectSuccess(run);
  const digest = run.result.metaData[`buildkit.${key}.digest`];
  expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  expect(stepEnv(dir).digest).toBe(digest);
  expect((await registryImage(registry, repo, '1'))?.digest).toBe(digest);
  return digest ?? '';
}

describeWithBuildkitd('remote buildkitd through buildctl and buildx, daemonless', () => {
  const registry = testRegistry();
  let daemon: Daemon;
  beforeAll(async () => {
    daemon = await startBuildkitd();
  });

  const config = (repo: string, builder: Record<string, unknown>) => ({
    image: `${registry}/${repo}`,
    tags: ['1'],
    push: true,
    target: 'runtime',
    network: 'none',
    builder,
  });

  test('buildctl, on an agent whose PATH has no docker: builds, pushes, reports the digest and the builder', async () => {
    const dir = checkout();
    const repo = `e2e/buildctl-${Date.now()}`;
    const run = await runPipelineStep(
      dir,
      { key: 'buildctl', command: recordEnv, config: config(repo, { endpoint: daemon.address }) },
      { processEnv: { PATH: pathWithoutDocker() } },
    );
    await expectPushed(run, dir, registry, repo, 'buildctl');
    expect(run.output).toContain(`buildkit: engine buildctl-remote (${daemon.address}): builder.endpoint is set`);
    expect(run.result.metaData['buildkit.buildctl.builder']).toBe(daemon.address);
    expect(run.result.annotations['buildkit-buildctl']).toContain(`Builder: \`${daemon.address}\``);
    expect(stepEnv(dir).host).toBe(daemon.address);
  });

  test("BUILDKIT_HOST in the agent's environment picks its builder, with buildctl", async () => {
    const dir = checkout();
    const repo = `e2e/buildkit-host-${Date.now()}`;
    const run = await runPipelineStep(
      dir,
      { key: 'host', command: recordEnv, config: config(repo, { client: 'buildctl' }) },
      { env: { BUILDKIT_HOST: daemon.address }, processEnv: withBuildctl() },
    );
    await expectPushed(run, dir, registry, repo, 'host');
    expect(run.output).toContain("BUILDKIT_HOST is set in the agent's environment");
  });

  test("buildx's remote driver: a per-job builder, removed by pre-exit", async () => {
    const dir = checkout();
    const repo = `e2e/buildx-remote-${Date.now()}`;
    const job = `job-remote-${Date.now()}`;
    const run = await runPipelineStep(
      dir,
      { key: 'bxremote', command: recordEnv, config: config(repo, { endpoint: daemon.address, client: 'buildx' }) },
      { env: { BUILDKITE_JOB_ID: job } },
    );
    await expectPushed(run, dir, registry, repo, 'bxremote');
    expect(run.output).toContain(`docker buildx create --name buildkite-${job} --driver remote --bootstrap ${daemon.address}`);
    expect(execFileSync('docker', ['buildx', 'ls'], { encoding: 'utf8' })).not.toContain(`buildkite-${job}`);
  });

  test('several endpoints: a dead one routed first is skipped with a warning, and the next one builds', async () => {
    const dead = 'tcp://127.0.0.1:9';
    const key = Array.from({ length: 100 }, (_, i) => `route-${i}`).find((k) => rankEndpoints([dead, daemon.address], k)[0] === dead) ?? '';
    const dir = checkout();
    const repo = `e2e/failover-${Date.now()}`;
    const run = await runPipelineStep(
      dir,
      {
        key: 'failover',
        command: recordEnv,
        config: config(repo, { endpoint: [daemon.address, dead], 'route-key': key, client: 'buildctl' }),
      },
      { processEnv: withBuildctl() },
    );
    await expectPushed(run, dir, registry, repo, 'failover');
    expect(run.output).toContain(`warning: the builder ${dead}: connection refused`);
    expect(run.result.metaData['buildkit.failover.builder']).toBe(daemon.address);
  });

  test('no endpoint answers: the job fails before building, naming each cause', async () => {
    const dir = checkout();
    const run = await runPipelineStep(
      dir,
      { key: 'down', command: 'touch ran', config: config(`e2e/down-${Date.now()}`, { endpoint: 'tcp://127.0.0.1:9', client: 'buildctl' }) },
      { processEnv: withBuildctl() },
    );
    expect(run.code).toBe(1);
    expect(run.output).toContain('no remote builder answered the connection check:');
    expect(run.output).toContain('tcp://127.0.0.1:9: connection refused: the daemon is not running there');
    expect(existsSync(join(dir, 'ran'))).toBe(false);
  });

  test('daemonless: buildctl-daemonless.sh starts and stops its own buildkitd', async () => {
    const dir = checkout();
    const repo = `e2e/daemonless-${Date.now()}`;
    const root = join(dir, 'daemonless-root');
    const run = await runPipelineStep(
      dir,
      {
        key: 'daemonless',
        command: recordEnv,
        config: config(repo, daemonless(root)),
      },
      { processEnv: { PATH: pathWithoutDocker() } },
    );
    await expectPushed(run, dir, registry, repo, 'daemonless');
    expect(run.output).toContain('engine buildctl-daemonless');
    expect(daemonsUsing(root)).toEqual([]);
  });

  test('agent-stack-k8s: the checkout container (no Node.js) does nothing; the command container builds daemonless', async () => {
    const dir = checkout();
    const repo = `e2e/k8s-${Date.now()}`;
    const root = join(dir, 'k8s-root');
    const run = await runPipelineStep(
      dir,
      {
        key: 'k8s',
        command: recordEnv,
        config: config(repo, daemonless(root)),
      },
      { processEnv: { PATH: pathWithoutDocker() }, extraArgs: ['--kubernetes', systemToolsBut(['docker', 'node', 'npm', 'npx', 'corepack'])] },
    );
    await expectPushed(run, dir, registry, repo, 'k8s');
    expect(Object.keys(run.result.hookMs)).toEqual(['checkout container: environment', 'environment', 'command', 'pre-exit']);
    expect(run.output).not.toContain('Provisioning Node.js');
  });

  test.each([
    ['the process group (as the agent does)', []],
    ["the hook's shell alone", ['--cancel-shell-only']],
  ])('daemonless, cancelled mid-build through %s: its buildkitd stops too', async (_how, how) => {
    const dir = checkout();
    const root = join(dir, 'daemonless-cancel-root');
    const before = daemonlessTempDirs();
    const run = await runPipelineStep(
      dir,
      {
        key: 'dlcancel',
        command: 'touch ran',
        config: {
          target: 'slow',
          network: 'none',
          builder: daemonless(root),
        },
      },
      { processEnv: { PATH: pathWithoutDocker() }, extraArgs: ['--grace', '10', ...how], cancelWhen: /\[slow \d+\/\d+\] RUN/ },
    );
    // Cancelled while its daemon ran the slow RUN, not before the daemon started.
    expect(run.cancelToEndMs).toBeDefined();
    expect(existsSync(root)).toBe(true);
    expect(run.code).not.toBe(0);
    expect(run.output).toContain('the build was cancelled');
    expect(daemonsUsing(root)).toEqual([]);
    // The script's own clean-up ran: its temporary directory is gone.
    expect(daemonlessTempDirs()).toEqual(before);
    expect(existsSync(join(dir, 'ran'))).toBe(false);
  });

  test('load with buildctl: the image reaches the Docker engine through docker load', async () => {
    const dir = checkout();
    const ref = `e2e/buildctl-load:${Date.now()}`;
    const run = await runPipelineStep(
      dir,
      {
        key: 'bcload',
        config: {
          image: ref.split(':')[0],
          tags: [ref.split(':')[1]],
          load: true,
          target: 'runtime',
          network: 'none',
          builder: { endpoint: daemon.address, client: 'buildctl' },
        },
      },
      { processEnv: withBuildctl() },
    );
    expectSuccess(run);
    expect(run.output).toContain('docker load --input');
    expect(execFileSync('docker', ['image', 'inspect', '--format', '{{.Id}}', ref], { encoding: 'utf8' })).toMatch(/^sha256:/);
  });

  test('builder.nodes: each platform built natively on its own builder (buildx remote nodes), one index pushed', async () => {
    const [amd, arm] = [await startBuildkitd(), await startBuildkitd()];
    const dir = multiarchCheckout();
    const repo = `e2e/nodes-${Date.now()}`;
    const nodes = [
      { endpoint: amd.address, platforms: 'linux/amd64' },
      { endpoint: arm.address, platforms: ['linux/arm64'] },
    ];
    const run = await runPipelineStep(dir, {
      key: 'nodes',
      command: recordEnv,
      config: { image: `${registry}/${repo}`, tags: ['1'], push: true, network: 'none', platforms: ['linux/amd64', 'linux/arm64'], builder: { nodes } },
    });
    expectSuccess(run);
    expect(run.output).toContain(`--append --driver remote --platform linux/arm64 --bootstrap ${arm.address}`);
    const { digest, manifest } = await registryManifest(registry, repo, '1');
    expect(Object.keys(platformManifests(manifest)).sort()).toEqual(['linux/amd64', 'linux/arm64']);
    expect(run.result.metaData['buildkit.nodes.digest']).toBe(digest);
    // Each fresh builder built its own platform, and only that one.
    expect(platformsBuiltOn(amd)).toEqual(['linux/amd64']);
    expect(platformsBuiltOn(arm)).toEqual(['linux/arm64']);
    await Promise.all([amd.stop(), arm.stop()]);
  });

  describe('mTLS', () => {
    let certs: Certificates;
    let tlsDaemon: Daemon;
    beforeAll(async () => {
      certs = makeCertificates();
      tlsDaemon = await startBuildkitd(certs);
    });

    test('buildctl with file paths and a key from an env: variable; the key file is gone after pre-exit', async () => {
      const dir = checkout();
      const repo = `e2e/mtls-${Date.now()}`;
      const tls = { ca: certs.ca, cert: certs.clientCert, key: 'env:BUILDKIT_TEST_CLIENT_KEY', servername: '127.0.0.1' };
      const job = `job-mtls-${Date.now()}`;
      const run = await runPipelineStep(
        dir,
        { key: 'mtls', command: recordEnv, config: config(repo, { endpoint: tlsDaemon.address, client: 'buildctl', tls }) },
        { env: { BUILDKIT_TEST_CLIENT_KEY: readFileSync(certs.clientKey, 'utf8'), BUILDKITE_JOB_ID: job }, processEnv: withBuildctl() },
      );
      await expectPushed(run, dir, registry, repo, 'mtls');
      expect(run.output).not.toContain('PRIVATE KEY');
      expect(existsSync(join(dir, `buildkite-plugin-buildkit-${process.getuid?.() ?? 0}`, job))).toBe(false);
    });

    test("buildx's remote driver with the same certificates", async () => {
      const dir = checkout();
      const repo = `e2e/mtls-buildx-${Date.now()}`;
      const tls = { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey };
      const run = await runPipelineStep(dir, {
        key: 'mtlsbx',
        command: recordEnv,
        config: config(repo, { endpoint: tlsDaemon.address, client: 'buildx', tls }),
      });
      await expectPushed(run, dir, registry, repo, 'mtlsbx');
    });

    test('a CA that did not sign the server: refused before the build, naming a certificate mismatch', async () => {
      const dir = checkout();
      const tls = { ca: certs.otherCa, cert: certs.clientCert, key: certs.clientKey };
      const run = await runPipelineStep(dir, {
        key: 'badca',
        command: 'touch ran',
        config: config(`e2e/badca-${Date.now()}`, { endpoint: tlsDaemon.address, client: 'buildctl', tls }),
      });
      expect(run.code).toBe(1);
      expect(run.output).toContain(`${tlsDaemon.address}: TLS handshake failed: a certificate mismatch`);
      expect(existsSync(join(dir, 'ran'))).toBe(false);
    });

    test('no client certificate: the daemon refuses it, and the check (buildctl debug info) says so before the build', async () => {
      const dir = checkout();
      const run = await runPipelineStep(
        dir,
        {
          key: 'nocert',
          command: 'touch ran',
          config: config(`e2e/nocert-${Date.now()}`, { endpoint: tlsDaemon.address, client: 'buildctl', tls: { ca: certs.ca } }),
        },
        { processEnv: withBuildctl() },
      );
      expect(run.code).not.toBe(0);
      // gRPC reports the refusal as the TLS alert or, racing it, as a reset or broken pipe.
      expect(run.output).toContain(`no remote builder answered the connection check:\n  - ${tlsDaemon.address}: `);
      expect(run.output).toMatch(/: (TLS handshake failed|connection reset: often TLS on one side only)/);
      expect(run.output).not.toContain('$ buildctl');
      expect(existsSync(join(dir, 'ran'))).toBe(false);
    });
  });
});

/** The platforms a daemon's builds asked for, from its build history. */
function platformsBuiltOn(daemon: Daemon): string[] {
  const lines = execFileSync(
    join(buildkitBinDir ?? '', 'buildctl'),
    ['--addr', daemon.address, 'debug', 'histories', '--format', '{{json .Record.FrontendAttrs}}'],
    {
      encoding: 'utf8',
    },
  );
  const attrs = lines
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, string>);
  return [...new Set(attrs.map((a) => a.platform ?? '(none)'))].sort();
}

(buildkitBinDir ? test : test.skip)('the BuildKit binaries come from scripts/provide-buildkit.sh, the daemonless script included', () => {
  expect(existsSync(join(buildkitBinDir ?? '', 'buildctl-daemonless.sh'))).toBe(true);
});

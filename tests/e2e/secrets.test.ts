import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon, daemonless, describeWithBuildkitd, pathWithoutDocker, startBuildkitd, withBuildctl } from './buildkitd';
import { census, filesUnder, findLeaks, imageBlobs, leftovers, newSecretValues, secretsCheckout, secretsStep } from './secrets-audit';
import { expectSuccess, fileInImage, platformManifests, registryManifest, runPipelineStep, scratchDir, sha256, testRegistry } from './support';

/** Cancellations per engine: 1 in the suite, 20 from scripts/secrets-audit.sh. */
const rounds = Number(process.env.SECRETS_AUDIT_ROUNDS ?? 1);
/** Where scripts/secrets-audit.sh collects the figures. */
const report = process.env.SECRETS_AUDIT_REPORT;

jest.setTimeout(180_000);

interface Engine {
  name: string;
  builder: () => Record<string, unknown>;
  processEnv?: () => Record<string, string>;
  /** Its state on disk, searched for the secret values too. */
  stateRoot?: () => string;
}

function secretsSuite(engine: Engine): void {
  const registry = testRegistry();

  test(`${engine.name}: the build reads each secret; no value is in the log, image, provenance, metadata, annotations, meta-data or files left`, async () => {
    const values = newSecretValues();
    const dir = secretsCheckout(values);
    const step = secretsStep(values);
    const repo = `e2e/secrets-${engine.name}-${Date.now()}`;
    const before = census();
    const run = await runPipelineStep(
      dir,
      {
        key: 'secrets',
        command: 'cp "$$BUILDKIT_PLUGIN_STATE_DIR/build-metadata.json" metadata.json',
        config: {
          ...step.config,
          image: `${registry}/${repo}`,
          tags: ['1'],
          push: true,
          provenance: 'mode=max',
          'build-args': ['GREETING=hello-from-build-args'],
          builder: engine.builder(),
        },
      },
      { env: step.env, extraArgs: step.extraArgs, processEnv: engine.processEnv?.() },
    );
    expectSuccess(run);

    const index = await registryManifest(registry, repo, '1');
    const image = platformManifests(index.manifest)['linux/amd64'];
    const { manifest } = await registryManifest(registry, repo, image?.digest ?? 'none');
    for (const [id, value] of [
      ['env-secret', values.env],
      ['file-secret', values.file],
      ['agent-secret', values.agent],
    ] as const) {
      expect((await fileInImage(registry, repo, manifest, `lengths/${id}`))?.toString().trim()).toBe(String(value.length));
    }
    expect(run.result.redactions.sort()).toEqual([values.env, values.file, values.agent].map(sha256).sort());

    const blobs = await imageBlobs(registry, repo, '1');
    // The search reaches the provenance attestation: mode=max records the build-args there.
    expect(blobs.some((b) => b.where.startsWith('application/vnd.in-toto+json') && b.data.includes('hello-from-build-args'))).toBe(true);
    const haystacks = [
      { where: 'the job log', data: Buffer.from(run.output) },
      { where: 'the metadata file', data: readFileSync(join(dir, 'metadata.json')) },
      { where: 'meta-data', data: Buffer.from(JSON.stringify(run.result.metaData)) },
      { where: 'annotations', data: Buffer.from(JSON.stringify(run.result.annotations)) },
      ...blobs,
      ...filesUnder(engine.stateRoot?.() ?? ''),
    ];
    const leaks = findLeaks(haystacks, values);
    const { problems: left } = await leftovers(before, dir, values);
    if (report) appendFileSync(report, `${JSON.stringify({ engine: engine.name, searched: haystacks.length, leaks: leaks.length, leftovers: left.length })}\n`);
    expect(leaks).toEqual([]);
    expect(left).toEqual([]);
  });

  test(
    `${engine.name}: cancelled mid-build ${rounds} time(s), as the agent cancels: the build stops, pre-exit cleans up, nothing is left`,
    async () => {
      const problems: string[] = [];
      const cancelToEndMs: number[] = [];
      const lingerMs: number[] = [];
      let left = 0;
      let leaked = 0;
      for (let round = 1; round <= rounds; round++) {
        const values = newSecretValues();
        const dir = secretsCheckout(values);
        const step = secretsStep(values, 'slow');
        const before = census();
        const run = await runPipelineStep(
          dir,
          // no-cache: an earlier round's sleep, finished after its cancel, must not be a cache hit.
          { key: 'cancel', command: 'touch ran', config: { ...step.config, 'no-cache': true, builder: engine.builder() } },
          { env: step.env, extraArgs: [...step.extraArgs, '--grace', '9'], processEnv: engine.processEnv?.(), cancelWhen: /\[slow \d+\/\d+\] RUN/ },
        );
        const { problems: found, lingerMs: linger } = await leftovers(before, dir, values);
        lingerMs.push(linger);
        const leaks = findLeaks([{ where: 'the job log', data: Buffer.from(run.output) }], values);
        left += found.length;
        leaked += leaks.length;
        cancelToEndMs.push(run.cancelToEndMs ?? -1);
        const mark = (problem: string) => problems.push(`round ${round}: ${problem}`);
        if (run.cancelToEndMs === undefined) mark('the build never reached the slow RUN, so it was not cancelled mid-build');
        if (run.code === 0 || !run.output.includes('the build was cancelled')) mark(`the job was not cancelled (exit ${run.code})`);
        if (run.result.hookMs['pre-exit'] === undefined) mark('pre-exit did not run');
        if (existsSync(join(dir, 'ran'))) mark('the step command ran');
        [...found, ...leaks].forEach(mark);
      }
      if (report) appendFileSync(report, `${JSON.stringify({ engine: engine.name, rounds, leftovers: left, leaks: leaked, cancelToEndMs, lingerMs })}\n`);
      expect(problems).toEqual([]);
    },
    rounds * 60_000,
  );

  test(`${engine.name}: ssh: the agent socket as default and a key file by id reach RUN --mount=type=ssh`, async () => {
    const dir = scratchDir('buildkit-e2e-ssh-');
    const values = newSecretValues();
    const checkout = secretsCheckout(values);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(checkout, 'deploy-key')]);
    const socket = join(dir, 'agent.sock');
    const agent: ChildProcess = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 50 && !existsSync(socket); i++) await new Promise((resolve) => setTimeout(resolve, 100));
      const run = await runPipelineStep(
        checkout,
        {
          key: 'ssh',
          config: {
            context: 'app',
            target: 'ssh',
            network: 'none',
            ssh: ['default', 'deploy=deploy-key'],
            outputs: ['type=local,dest=out'],
            builder: engine.builder(),
          },
        },
        { env: { SSH_AUTH_SOCK: socket }, processEnv: engine.processEnv?.() },
      );
      expectSuccess(run);
      expect(readFileSync(join(checkout, 'out', 'ssh-default'), 'utf8')).toBe('default\n');
      expect(readFileSync(join(checkout, 'out', 'ssh-deploy'), 'utf8')).toBe('deploy\n');
    } finally {
      agent.kill('SIGTERM');
    }
  });
}

describe('build secrets on the Docker engine (buildx, docker driver)', () => {
  secretsSuite({ name: 'docker', builder: () => ({}) });
});

describeWithBuildkitd('build secrets on a remote buildkitd and daemonless', () => {
  let daemon: Daemon;
  beforeAll(async () => {
    daemon = await startBuildkitd();
  });
  const daemonlessRoot = scratchDir('buildkit-e2e-daemonless-secrets-');

  secretsSuite({
    name: 'buildctl-remote',
    builder: () => ({ endpoint: daemon.address, client: 'buildctl' }),
    processEnv: withBuildctl,
    stateRoot: () => daemon.root,
  });
  secretsSuite({ name: 'buildx-remote', builder: () => ({ endpoint: daemon.address, client: 'buildx' }), stateRoot: () => daemon.root });
  secretsSuite({
    name: 'daemonless',
    builder: () => daemonless(join(daemonlessRoot, 'root')),
    processEnv: () => ({ PATH: pathWithoutDocker() }),
    stateRoot: () => daemonlessRoot,
  });
});

import { BuilderPlan } from '../plan/builder';
import { registerCleanup } from './cleanup';
import { exec } from './exec';
import { log } from './log';

/** Creates (or reuses) the job's docker-container builder; returns a non-zero code on failure. */
export async function setUpBuilder(builder: BuilderPlan, stateDir: string, env: NodeJS.ProcessEnv): Promise<number> {
  if (builder.driver === 'docker' || !builder.create) return 0;
  log.group(`:docker: Setting up builder ${builder.name}`);
  if (builder.inspect && (await exec(builder.inspect, { env, quiet: true })).code === 0) {
    log.info(`buildkit: reusing the kept builder ${builder.name}`);
    return 0;
  }
  if (builder.remove) {
    // Registered before it exists, so pre-exit removes even a half-created builder; a
    // builder of the same name left by a crashed job is removed first.
    registerCleanup(stateDir, { argv: builder.remove, title: `removing builder ${builder.name}` });
    await exec(builder.remove, { env, quiet: true });
  }
  const { code, tail } = await exec(builder.create, { env, tailLines: 20 });
  if (code !== 0 && builder.inspect && tail.some((line) => line.includes(`existing instance for "${builder.name}"`))) {
    // Kept builders are shared: another job on this agent created it since our inspect.
    log.info(`buildkit: the kept builder ${builder.name} was just created by another job; reusing it`);
    return 0;
  }
  if (code !== 0) {
    log.openCurrentGroup();
    log.error(`creating the builder ${builder.name} failed (exit ${code})`);
  }
  return code;
}

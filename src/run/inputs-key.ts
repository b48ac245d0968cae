import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { SkipPlan } from '../plan/skip-plan';
import { digestTree } from '../inputs/tree-digest';
import { UserError } from './hook-main';

/**
 * The plugin's major version: part of every key, so a new major (which may build the same
 * inputs differently) never reuses an older one's image. tests/unit tie it to package.json.
 */
export const inputsKeyVersion = 1;

export interface InputsKey {
  /** sha256 hex of everything the build reads. */
  key: string;
  /** `<repository>:[<prefix>-]inputs-<key>`. */
  ref: string;
  files: number;
  bytes: number;
  warnings: string[];
}

const nodeArchToPlatform: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/** Hashes the Dockerfile, the files (context or `inputs` globs), local named contexts and the settings. */
export async function inputsKey(skip: SkipPlan, now: Date, signal?: AbortSignal): Promise<InputsKey> {
  const warnings: string[] = [];
  const dockerfile = await readFile(skip.dockerfile, { signal }).catch((error: NodeJS.ErrnoException) => {
    throw new UserError(`skip-unchanged: cannot read the Dockerfile ${skip.dockerfile} to hash it (${error.code ?? error.message})`);
  });
  const tree = await treeOrFail(() =>
    'context' in skip.files
      ? digestTree(skip.files.context, { kind: 'dockerignore', dockerfile: skip.dockerfile }, signal)
      : digestTree(skip.checkout, { kind: 'globs', globs: skip.files.globs }, signal),
  );
  if (tree.includesGit)
    warnings.push(
      `skip-unchanged: the build context includes .git, which differs between checkouts, so the image is never reused; add .git to ${relative(skip.checkout, 'context' in skip.files ? skip.files.context : skip.checkout) || '.'}/.dockerignore`,
    );
  // A typo in a glob would leave nothing to hash: the image would be reused whatever changed.
  if ('globs' in skip.files && tree.files === 0)
    throw new UserError(`skip-unchanged.inputs: no file in the checkout ${skip.checkout} matches ${skip.files.globs.join(', ')}; nothing would be hashed`);
  const contexts: Record<string, string> = {};
  for (const { name, dir } of skip.localContexts) {
    const context = await treeOrFail(() => digestTree(dir, { kind: 'all' }, signal));
    if (context.includesGit)
      warnings.push(`skip-unchanged: the build context ${name} (${dir}) includes .git, which differs between checkouts, so the image is never reused`);
    contexts[name] = context.digest;
  }
  const base = sha256(
    JSON.stringify({
      version: inputsKeyVersion,
      settings: skip.settings,
      // Without platforms the builder's own is built: an arm64 agent must not reuse an amd64 image.
      native: skip.settings.platforms instanceof Array && skip.settings.platforms.length > 0 ? '' : `linux/${nodeArchToPlatform[process.arch] ?? process.arch}`,
      dockerfile: sha256(dockerfile),
      files: tree.digest,
      contexts,
    }),
  );
  const key = skip.maxAgeSeconds ? sha256(`${base}:${maxAgeWindow(base, skip.maxAgeSeconds, now)}`) : base;
  return { key, ref: `${skip.repository}:${skip.tagPrefix}inputs-${key}`, files: tree.files, bytes: tree.bytes, warnings };
}

/**
 * The max-age window `now` falls in. Each key's windows start at an offset of its own, so
 * a fleet of pipelines does not rebuild everything at the same moment; an image reused in
 * a window was built in it, so it is never older than max-age.
 */
export function maxAgeWindow(base: string, maxAgeSeconds: number, now: Date): number {
  const offset = parseInt(base.slice(0, 8), 16) % maxAgeSeconds;
  return Math.floor((Math.floor(now.getTime() / 1000) + offset) / maxAgeSeconds);
}

async function treeOrFail<T>(digest: () => Promise<T>): Promise<T> {
  try {
    return await digest();
  } catch (error) {
    if (error instanceof Error && error.name !== 'AbortError') throw new UserError(`skip-unchanged: ${error.message}`);
    throw error;
  }
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

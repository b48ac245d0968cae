import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { attrValue } from '../config/exporter';
import { BuildRequest, inCheckout } from '../plan/build-request';
import { log } from './log';
import { Runtime } from './runtime';

type Env = NodeJS.ProcessEnv;

/** How many uploaded files the annotation links; the rest are counted. */
const linked = 10;

/**
 * `artifacts: true`: what the build wrote to files (local directories, tar and OCI archives,
 * with the provenance and SBOM files BuildKit puts beside them when asked) is uploaded with
 * `buildkite-agent artifact upload`. Returns the uploaded paths (relative to the checkout)
 * for the annotation, and warnings for what could not be uploaded: the image is built either
 * way.
 */
export async function uploadArtifacts(request: BuildRequest, env: Env, runtime: Runtime): Promise<{ paths: string[]; warnings: string[] }> {
  const checkout = env.BUILDKITE_BUILD_CHECKOUT_PATH || process.cwd();
  const paths: string[] = [];
  const warnings: string[] = [];
  for (const output of request.outputs.filter((o) => ['local', 'tar', 'oci'].includes(o.type))) {
    const dest = attrValue(output, 'dest');
    if (!dest) continue;
    const full = inCheckout(dest, env);
    const files = filesAt(full);
    if (files.length === 0) {
      warnings.push(`artifacts: the ${output.type} output ${dest} wrote no file to upload`);
      continue;
    }
    log.group(`:arrow_up: Uploading ${dest} as artifacts`);
    const pattern = statSync(full).isDirectory() ? `${dest.replace(/\/+$/, '')}/**/*` : dest;
    if (await runtime.agent.uploadArtifacts(pattern)) paths.push(...files.map((file) => relative(checkout, file)));
    else warnings.push(`artifacts: ${dest} could not be uploaded (buildkite-agent artifact upload failed)`);
  }
  return { paths, warnings };
}

function filesAt(path: string): string[] {
  try {
    if (!statSync(path).isDirectory()) return [path];
  } catch {
    return [];
  }
  const depth = (file: string) => file.split('/').length;
  // Shallow files first: the annotation links the first few.
  return readdirSync(path, { recursive: true, encoding: 'utf8' })
    .map((name) => join(path, name))
    .filter((file) => statSync(file).isFile())
    .sort((a, b) => depth(a) - depth(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/** Markdown links to the first uploaded files (`artifact://` links open them in Buildkite). */
export function artifactLinks(paths: string[]): string {
  const links = paths.slice(0, linked).map((path) => `[${path.replace(/[[\]\\]/g, '\\$&')}](artifact://${encodeURI(path)})`);
  return paths.length > linked ? `${links.join(', ')} and ${paths.length - linked} more` : links.join(', ');
}

import { appendFileSync } from 'node:fs';
import { shellQuote } from './shell-quote';

/**
 * Hands variables to the sourcing shim (and so to later hooks): the shim passes a private
 * file in BUILDKIT_PLUGIN_EXPORTS_FILE and sources it after Node exits.
 */
export function writeExports(vars: Record<string, string>, env = process.env): void {
  const file = env.BUILDKIT_PLUGIN_EXPORTS_FILE;
  const lines = Object.entries(vars).map(([key, value]) => `export ${key}=${shellQuote(value)}\n`);
  if (!file) {
    process.stderr.write(`buildkit: not run by the hook shim; these would be exported:\n${lines.join('')}`);
    return;
  }
  appendFileSync(file, lines.join(''), { mode: 0o600 });
}

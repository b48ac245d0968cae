import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The plugin's checkout (where plugin.yml is): above dist/ in a hook, above src/run in tests. */
export function pluginDir(from = __dirname): string {
  for (let dir = from; dir !== dirname(dir); dir = dirname(dir)) if (existsSync(join(dir, 'plugin.yml'))) return dir;
  throw new Error(`no plugin.yml above ${from}`);
}

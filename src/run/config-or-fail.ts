import { loadConfig } from '../config/load-config';
import { Config } from '../config/types';
import { UserError } from './hook-main';

/** The configuration, or a UserError listing every problem with its option path. */
export function configOrFail(env: NodeJS.ProcessEnv): Config {
  const loaded = loadConfig(env);
  if (!loaded.ok) {
    throw new UserError('the buildkit plugin configuration is invalid:', loaded.errors);
  }
  return loaded.config;
}

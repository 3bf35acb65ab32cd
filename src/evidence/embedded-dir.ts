import { resolve } from 'node:path';

/** Where the embedded database lives when the config sets no `database.path`: beside the config. */
const DEFAULT_EMBEDDED_PATH = '.restore-drill';

/** The embedded database folder a config names: `database.path` resolved against the config's folder. */
export function embeddedDirFor(database: { path?: string | undefined }, configDir: string): string {
  return resolve(configDir, database.path ?? DEFAULT_EMBEDDED_PATH);
}

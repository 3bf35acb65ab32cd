import type { LoadedConfig } from '../../src/config/load.js';
import type { RunDrillRequest } from '../../src/drill/run-drill.js';
import { silentLogger } from '../../src/log/logger.js';

/** A manual runDrill request for the drill `name` of a loaded config, recorded in `db`; `overrides` win. */
export function drillRequest(
  loaded: LoadedConfig,
  name: string,
  db: RunDrillRequest['db'],
  overrides: Partial<RunDrillRequest> = {},
): RunDrillRequest {
  const drill = loaded.config.drills.find((candidate) => candidate.name === name);
  if (!drill) throw new Error(`no drill ${name} in ${loaded.file}`);
  return {
    drill,
    config: loaded.config,
    configDir: loaded.dir,
    db,
    log: silentLogger(),
    trigger: 'manual',
    ...overrides,
  };
}

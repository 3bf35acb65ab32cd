import type { LoadedConfig } from '../config/load.js';
import type { EvidenceDb } from '../evidence/database.js';
import type { Logger } from '../log/logger.js';

/** What every job gets: the config it runs under, the evidence database, a logger, and a stop signal. */
export interface JobContext {
  loaded: LoadedConfig;
  db: EvidenceDb;
  log: Logger;
  signal?: AbortSignal;
}

/**
 * A kind of work the CLI and the scheduler hand out: a restore drill, the stale
 * check, a scratch sweep. Jobs live in jobs/ as thin compositions of src/ modules;
 * src/ only knows this interface, never the jobs themselves.
 */
export interface Job<Payload, Result> {
  readonly name: string;
  run(payload: Payload, context: JobContext): Promise<Result>;
}

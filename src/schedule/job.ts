import type { LoadedConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { ProgressListener } from '../drill/progress.js';
import type { RunGate } from '../drill/run-drill.js';
import type { EvidenceDb } from '../evidence/database.js';
import type { Logger } from '../log/logger.js';
import type { RunLeases } from './run-leases.js';

/** What every job gets: the config it runs under, the evidence database, a logger, and a stop signal. */
export interface JobContext {
  loaded: LoadedConfig;
  db: EvidenceDb;
  log: Logger;
  signal?: AbortSignal;
  /** The run's liveness lease and slot claim, from the daemon or `run` (drill jobs). */
  gate?: RunGate;
  /** Told how a drill run is getting on (drill jobs): a terminal status line, log events. */
  onProgress?: ProgressListener;
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

/** What the daemon hands a periodic job: the slot it fills. */
export interface PeriodicJobPayload {
  /** The cron slot, as every replica computes it. */
  scheduledFor: Date;
}

/** What a periodic job's context adds: who is alive (the scratch sweep spares live runs and closes dead ones). */
export interface PeriodicJobContext extends JobContext {
  leases: RunLeases;
}

/**
 * A job the daemon runs on a schedule of its own (the stale check, the scratch
 * sweep), on every replica: it must be safe to run on several at once (the
 * alert log's dedupe keys, a sweep that spares live runs). A run of it still
 * going when its next slot comes skips that slot.
 */
export interface PeriodicJob<Result = unknown> {
  readonly name: string;
  /** Its cron schedule under this config; null: not scheduled under it. */
  schedule(config: Config): string | null;
  run(payload: PeriodicJobPayload, context: PeriodicJobContext): Promise<Result>;
}

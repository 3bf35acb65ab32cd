import type { ColumnType, GeneratedAlways, Selectable } from 'kysely';

type Immutable<Select, Insert = Select> = ColumnType<Select, Insert, never>;

/** Why a scheduled slot did not run. */
export type SkipReason =
  /** The drill's previous run was still going (anywhere, on any replica). */
  | 'overlap'
  /** The drill's previous slot was still waiting for a free run slot in this daemon (`daemon.concurrency`). */
  | 'queued'
  /** The daemon was too late for the slot (blocked event loop, suspended host, clock jump). */
  | 'missed'
  /** The slot was waiting in the queue when the daemon was told to stop. */
  | 'shutdown';

/**
 * One row per scheduled slot that did not run, written by the replica that
 * decided so. The unique `(drill, scheduled_for)` pair, with the per-drill
 * claim lock, makes a slot end up with exactly one of: a run start, or a skip.
 */
export interface RunSkipsTable {
  id: GeneratedAlways<string>;
  drill: Immutable<string>;
  scheduled_for: Immutable<Date, Date | string>;
  reason: Immutable<SkipReason>;
  blocking_run_id: Immutable<string | null>;
  /** One line for people: what was still going, or how late the daemon was. */
  detail: Immutable<string>;
  recorded_at: Immutable<Date, Date | string>;
  host: Immutable<string>;
  pid: Immutable<number>;
}

/** The tables the scheduler adds to the evidence database (migration 004). */
export interface RunSkipsTables {
  run_skips: RunSkipsTable;
}

export type RunSkipRow = Selectable<RunSkipsTable>;

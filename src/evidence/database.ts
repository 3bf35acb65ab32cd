import type { ColumnType, GeneratedAlways, Insertable, Kysely, Selectable } from 'kysely';
import type { AlertLogTables } from './alert-log.table.js';
import type { RunSkipsTables } from './run-skips.table.js';

/**
 * A column written once and never updated (`never` as the update type): the
 * evidence tables are append-only, and the types say so.
 */
type Immutable<Select, Insert = Select> = ColumnType<Select, Insert, never>;

/** int8 columns: node-postgres returns them as strings (they may exceed 2^53). */
type Int8 = Immutable<string, number | string | bigint>;

/** A timestamptz column: a Date when read, a Date or ISO 8601 text when written. */
type Timestamp = Immutable<Date, Date | string>;

/**
 * One row per run, written when the run starts. The unique `(drill, scheduled_for)`
 * pair is the slot claim: replicas sharing a database insert `on conflict do
 * nothing`, and only the one whose row lands runs the slot.
 */
export interface RunStartsTable {
  /** A UUID; `getRun` also accepts a unique prefix. */
  run_id: Immutable<string>;
  drill: Immutable<string>;
  trigger: Immutable<'manual' | 'schedule' | 'replay'>;
  /** The cron slot this run fills; null for manual runs (and NULLs never conflict). */
  scheduled_for: Immutable<Date | null, Date | string | null>;
  replay_of: Immutable<string | null>;
  started_at: Timestamp;
  host: Immutable<string>;
  pid: Immutable<number>;
  /** The process's start in clock ticks since boot (/proc/PID/stat field 22): a reused pid has another. */
  process_start: Immutable<string | null, number | string | null>;
  /** The host's boot id when the run started: after a reboot no pid of that boot lives. */
  boot_id: Immutable<string | null>;
  version: Immutable<string>;
  config_hash: Immutable<string>;
  scratch_dir: Immutable<string | null>;
}

/**
 * One row per finished run, hash-chained in `seq` order: `record_hash` is
 * sha256(prev_hash + '\n' + record), and `prev_hash` is the previous row's
 * `record_hash` (64 zeros for the first). `record` is the canonical JSON of the
 * RunRecord; the other columns are copies of its fields, for queries.
 */
export interface RunResultsTable {
  /** Position in the chain (identity column). */
  seq: GeneratedAlways<string>;
  run_id: Immutable<string>;
  drill: Immutable<string>;
  verdict: Immutable<string>;
  started_at: Timestamp;
  finished_at: Timestamp;
  set_path: Immutable<string | null>;
  files: Immutable<number>;
  bytes: Int8;
  checks_failed: Immutable<number>;
  restore_ms: Immutable<number>;
  verify_ms: Immutable<number>;
  total_ms: Immutable<number>;
  record: Immutable<string>;
  prev_hash: Immutable<string>;
  record_hash: Immutable<string>;
}

/** Every restored item of a run (a set may hold millions), beside its result. */
export interface RunItemsTable {
  run_id: Immutable<string>;
  path: Immutable<string>;
  size: Int8;
  sha256: Immutable<string | null>;
  /** A symbolic link's target (escaped as names are); null for a regular file (migration 007). */
  link_target: Immutable<string | null, string | null | undefined>;
}

/** The sign-off decisions a review records. */
export const REVIEW_DECISIONS = ['accepted', 'remediation', 'risk-accepted'] as const;
export type ReviewDecision = (typeof REVIEW_DECISIONS)[number];

/**
 * Sign-off records (migration 008), in the same hash chain as run_results: `seq`
 * comes from run_results' sequence, `prev_hash` is the record_hash of the record
 * before, whichever table holds it. The other columns copy fields of `record`.
 */
export interface RunReviewsTable {
  seq: ColumnType<string, never, never>;
  run_id: Immutable<string>;
  reviewed_at: Timestamp;
  reviewer: Immutable<string>;
  decision: Immutable<ReviewDecision>;
  note: Immutable<string>;
  ticket: Immutable<string | null>;
  record: Immutable<string>;
  prev_hash: Immutable<string>;
  record_hash: Immutable<string>;
}

/**
 * Selftest records (migration 009), in the same hash chain as run_results and
 * run_reviews; `run_id` is the selftest's own id. The other columns copy fields of `record`.
 */
export interface SelftestsTable {
  seq: ColumnType<string, never, never>;
  run_id: Immutable<string>;
  drill: Immutable<string>;
  verdict: Immutable<string>;
  started_at: Timestamp;
  undetected: Immutable<number>;
  record: Immutable<string>;
  prev_hash: Immutable<string>;
  record_hash: Immutable<string>;
}

/**
 * The evidence database as kysely sees it. Later tables (alert log, waivers,
 * purge records) join here with their own migrations.
 */
export interface Database extends AlertLogTables, RunSkipsTables {
  run_starts: RunStartsTable;
  run_results: RunResultsTable;
  run_items: RunItemsTable;
  run_reviews: RunReviewsTable;
  selftests: SelftestsTable;
}

export type RunStartRow = Selectable<RunStartsTable>;
export type NewRunStartRow = Insertable<RunStartsTable>;
export type RunResultRow = Selectable<RunResultsTable>;
export type NewRunResultRow = Insertable<RunResultsTable>;
export type RunItemRow = Selectable<RunItemsTable>;
export type NewRunItemRow = Insertable<RunItemsTable>;

/** The evidence database handle every repository function takes first. */
export type EvidenceDb = Kysely<Database>;

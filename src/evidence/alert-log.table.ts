import type { ColumnType, GeneratedAlways, Insertable, Selectable } from 'kysely';

/** Written once, never updated: the alert log is append-only, like the evidence. */
type Immutable<Select, Insert = Select> = ColumnType<Select, Insert, never>;
type Timestamp = Immutable<Date, Date | string>;

/**
 * One alert, raised once: the UNIQUE `dedupe_key` (drill, kind and the run or
 * window it is about) makes every replica that decides the same alert insert
 * the same row, and only the first insert lands.
 */
export interface AlertEventsTable {
  /** Identity; int8, so a string when read. */
  id: GeneratedAlways<string>;
  /** `failing:<drill>:<run>`, `stale:<drill>:<last pass>`, `reminder:<problem>:<n>`, `recovered:<problem>`, `heartbeat:<slot>`. */
  dedupe_key: Immutable<string>;
  kind: Immutable<string>;
  /** Null for heartbeats. */
  drill: Immutable<string | null>;
  /** The key of the alert that opened the problem this one is about (itself for `failing`/`stale`). */
  problem_key: Immutable<string | null>;
  /** The run the alert is about, when there is one. */
  run_id: Immutable<string | null>;
  created_at: Timestamp;
  /** JSON array of channel names chosen by the routes when the alert was raised. */
  channels: Immutable<string>;
  /** The AlertMessage as JSON, redacted: every attempt sends exactly this. */
  message: Immutable<string>;
}

/** Every attempt to send an alert to a channel, failed or not. */
export interface AlertAttemptsTable {
  id: GeneratedAlways<string>;
  event_id: Immutable<string, string | number>;
  channel: Immutable<string>;
  /** 1 for the first attempt of this event on this channel; UNIQUE with the two above. */
  attempt: Immutable<number>;
  started_at: Timestamp;
  duration_ms: Immutable<number>;
  ok: Immutable<boolean>;
  /** A failure no retry can fix (HTTP 404, SMTP 550, bad credentials): no further attempt. */
  permanent: Immutable<boolean>;
  /** What the receiver said, or the one-line error. */
  detail: Immutable<string>;
  /** The receiver's Retry-After, in ms. */
  retry_after_ms: Immutable<number | null>;
  host: Immutable<string>;
  pid: Immutable<number>;
}

/** The alert log's tables; `Database` (src/evidence/database.ts) includes them. */
export interface AlertLogTables {
  alert_events: AlertEventsTable;
  alert_attempts: AlertAttemptsTable;
}

export type AlertEventRow = Selectable<AlertEventsTable>;
export type NewAlertEventRow = Insertable<AlertEventsTable>;
export type AlertAttemptRow = Selectable<AlertAttemptsTable>;
export type NewAlertAttemptRow = Insertable<AlertAttemptsTable>;

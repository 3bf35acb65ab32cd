import { hostname } from 'node:os';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../evidence/database.js';
import { syncEvidence } from '../evidence/durability.js';
import type { AlertKind, AlertMessage, ProblemKind } from './message.js';
import type { OpenProblem } from './state.js';

/** A database handle or an open transaction: repository functions take either. */
type Db = Kysely<Database> | Transaction<Database>;

/** An alert as raised, before it has an id. */
export interface NewAlertEvent {
  dedupeKey: string;
  kind: Exclude<AlertKind, 'test' | 'spooled'>;
  drill: string | null;
  problemKey: string | null;
  runId: string | null;
  createdAt: Date;
  channels: readonly string[];
  message: AlertMessage;
}

/** An alert as stored. */
export interface AlertEvent extends NewAlertEvent {
  id: string;
}

/**
 * Records an alert once: the first caller with a given `dedupeKey` inserts it
 * (`created: true`); every later caller, in this process or another replica,
 * gets the stored row back (`created: false`) and must not raise it again.
 */
export async function recordAlertEvent(
  db: Db,
  event: NewAlertEvent,
): Promise<{ event: AlertEvent; created: boolean }> {
  const inserted = await db
    .insertInto('alert_events')
    .values({
      dedupe_key: event.dedupeKey,
      kind: event.kind,
      drill: event.drill,
      problem_key: event.problemKey,
      run_id: event.runId,
      created_at: event.createdAt,
      channels: JSON.stringify(event.channels),
      message: JSON.stringify(event.message),
    })
    .onConflict((conflict) => conflict.column('dedupe_key').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (inserted) {
    // Durable before anyone sends it: a crash must not forget an alert that went out.
    await syncEvidence(db);
    return { event: { ...event, channels: [...event.channels], id: inserted.id }, created: true };
  }
  const existing = await db
    .selectFrom('alert_events')
    .selectAll()
    .where('dedupe_key', '=', event.dedupeKey)
    .executeTakeFirstOrThrow();
  return { event: toEvent(existing), created: false };
}

function toEvent(row: {
  id: string;
  dedupe_key: string;
  kind: string;
  drill: string | null;
  problem_key: string | null;
  run_id: string | null;
  created_at: Date;
  channels: string;
  message: string;
}): AlertEvent {
  return {
    id: row.id,
    dedupeKey: row.dedupe_key,
    kind: row.kind as AlertEvent['kind'],
    drill: row.drill,
    problemKey: row.problem_key,
    runId: row.run_id,
    createdAt: row.created_at,
    channels: JSON.parse(row.channels) as string[],
    message: JSON.parse(row.message) as AlertMessage,
  };
}

/**
 * The drill's open problem: its newest failing/stale/recovered alert, unless that
 * is a recovery; with how often it has been repeated since.
 */
export async function loadOpenProblem(db: Db, drill: string): Promise<OpenProblem | null> {
  const last = await db
    .selectFrom('alert_events')
    .select(['dedupe_key', 'kind', 'created_at'])
    .where('drill', '=', drill)
    .where('kind', 'in', ['failing', 'stale', 'recovered'])
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!last || last.kind === 'recovered') return null;
  const reminders = await db
    .selectFrom('alert_events')
    .select((eb) => [eb.fn.countAll<string>().as('count'), eb.fn.max('created_at').as('latest')])
    .where('problem_key', '=', last.dedupe_key)
    .where('kind', '=', 'reminder')
    .executeTakeFirstOrThrow();
  const count = Number(reminders.count);
  const latest = reminders.latest === null ? null : new Date(reminders.latest as Date | string);
  return {
    key: last.dedupe_key,
    kind: last.kind as ProblemKind,
    openedAt: last.created_at,
    lastNotifiedAt: latest && latest > last.created_at ? latest : last.created_at,
    reminders: count,
  };
}

/** Where delivery of one alert to one channel stands. */
export interface DeliveryState {
  eventId: string;
  channel: string;
  attempts: number;
  lastAttemptAt: Date | null;
  lastRetryAfterMs: number | null;
  lastError: string | null;
  delivered: boolean;
  /** A permanent failure: no further attempt. */
  refused: boolean;
}

/**
 * Deliveries not yet done, oldest alert first: every (alert, channel) pair of
 * alerts raised since `since` with no successful and no permanently failed
 * attempt. Includes pairs whose attempts are used up; the caller decides.
 */
export async function findUndelivered(
  db: Db,
  options: { since: Date },
): Promise<{ event: AlertEvent; delivery: DeliveryState }[]> {
  const events = await db
    .selectFrom('alert_events')
    .selectAll()
    .where('created_at', '>=', options.since)
    .orderBy('id')
    .execute();
  if (events.length === 0) return [];
  const states = await deliveryStates(
    db,
    events.map((event) => event.id),
  );
  const out: { event: AlertEvent; delivery: DeliveryState }[] = [];
  for (const row of events) {
    const event = toEvent(row);
    for (const channel of event.channels) {
      const delivery = states.get(`${event.id}\n${channel}`) ?? emptyState(event.id, channel);
      if (!delivery.delivered && !delivery.refused) out.push({ event, delivery });
    }
  }
  return out;
}

function emptyState(eventId: string, channel: string): DeliveryState {
  return {
    eventId,
    channel,
    attempts: 0,
    lastAttemptAt: null,
    lastRetryAfterMs: null,
    lastError: null,
    delivered: false,
    refused: false,
  };
}

/** Delivery state of the given alerts, keyed by `<event id>\n<channel>`. */
export async function deliveryStates(
  db: Db,
  eventIds: readonly string[],
): Promise<Map<string, DeliveryState>> {
  const states = new Map<string, DeliveryState>();
  if (eventIds.length === 0) return states;
  const rows = await db
    .selectFrom('alert_attempts')
    .select([
      'event_id',
      'channel',
      'attempt',
      'started_at',
      'ok',
      'permanent',
      'detail',
      'retry_after_ms',
    ])
    .where('event_id', 'in', eventIds)
    .orderBy('event_id')
    .orderBy('channel')
    .orderBy('attempt')
    .execute();
  for (const row of rows) {
    const key = `${row.event_id}\n${row.channel}`;
    const state = states.get(key) ?? emptyState(row.event_id, row.channel);
    state.attempts = Math.max(state.attempts, row.attempt);
    state.lastAttemptAt = row.started_at;
    state.lastRetryAfterMs = row.retry_after_ms;
    state.lastError = row.ok ? null : row.detail;
    state.delivered ||= row.ok;
    state.refused ||= !row.ok && row.permanent;
    states.set(key, state);
  }
  return states;
}

/** One attempt's outcome, as recorded. */
export interface AttemptRecord {
  eventId: string;
  channel: string;
  attempt: number;
  startedAt: Date;
  durationMs: number;
  ok: boolean;
  permanent: boolean;
  detail: string;
  retryAfterMs: number | null;
}

/** Appends one attempt to the log. */
export async function recordAttempt(db: Db, attempt: AttemptRecord): Promise<void> {
  await db
    .insertInto('alert_attempts')
    .values({
      event_id: attempt.eventId,
      channel: attempt.channel,
      attempt: attempt.attempt,
      started_at: attempt.startedAt,
      duration_ms: attempt.durationMs,
      ok: attempt.ok,
      permanent: attempt.permanent,
      detail: attempt.detail,
      retry_after_ms: attempt.retryAfterMs,
      host: hostname(),
      pid: process.pid,
    })
    .execute();
}

/** Every attempt of one alert, in order. */
export async function listAttempts(db: Db, eventId: string): Promise<AttemptRecord[]> {
  const rows = await db
    .selectFrom('alert_attempts')
    .selectAll()
    .where('event_id', '=', eventId)
    .orderBy('channel')
    .orderBy('attempt')
    .execute();
  return rows.map((row) => ({
    eventId: row.event_id,
    channel: row.channel,
    attempt: row.attempt,
    startedAt: row.started_at,
    durationMs: row.duration_ms,
    ok: row.ok,
    permanent: row.permanent,
    detail: row.detail,
    retryAfterMs: row.retry_after_ms,
  }));
}

/** Recent alerts, newest first, each with where its deliveries stand. */
export async function listAlertEvents(
  db: Db,
  options: {
    drill?: readonly string[] | undefined;
    since?: Date | undefined;
    limit?: number | undefined;
  } = {},
): Promise<{ event: AlertEvent; deliveries: DeliveryState[] }[]> {
  let query = db.selectFrom('alert_events').selectAll().orderBy('id', 'desc');
  if (options.drill !== undefined)
    query =
      options.drill.length === 0
        ? query.where(sql.lit(false))
        : query.where('drill', 'in', options.drill);
  if (options.since !== undefined) query = query.where('created_at', '>=', options.since);
  if (options.limit !== undefined) query = query.limit(options.limit);
  const rows = await query.execute();
  const states = await deliveryStates(
    db,
    rows.map((row) => row.id),
  );
  return rows.map((row) => {
    const event = toEvent(row);
    return {
      event,
      deliveries: event.channels.map(
        (channel) => states.get(`${event.id}\n${channel}`) ?? emptyState(event.id, channel),
      ),
    };
  });
}

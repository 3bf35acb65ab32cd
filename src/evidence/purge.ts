import { hostname } from 'node:os';
import { sql, type Kysely, type Transaction } from 'kysely';
import { VERSION } from '../version.js';
import { verifyChain, withPurgeLog, type ChainReport, type PurgeEntry } from './chain.js';
import type { Database } from './database.js';
import { CHAIN_LOCK, chainHead } from './runs.js';
import { syncEvidence } from './durability.js';

/** What a purge would remove: a prefix of the chain. */
export interface PurgePlan {
  firstSeq: number;
  lastSeq: number;
  records: number;
  /** When the youngest of the runs it removes started (what the retention floor is checked against). */
  youngestStartedAt: Date;
}

/**
 * The prefix of the chain a purge with this cutoff removes: every record before
 * the first run started at or after `before`, but never the newest record
 * (`headSeq`, looked up when absent). Null when nothing would go.
 */
export async function planPurge(
  db: Kysely<Database> | Transaction<Database>,
  before: Date,
  headSeq?: number,
): Promise<PurgePlan | null> {
  let head = headSeq;
  if (head === undefined) {
    const found = await chainHead(db);
    if (found === undefined) return null;
    head = found.seq;
  }
  // Selftests are dated like runs: one as young as the cutoff is kept too.
  const firstKept = await db
    .selectFrom((eb) =>
      eb
        .selectFrom('run_results')
        .select(['seq', 'started_at'])
        .unionAll(eb.selectFrom('selftests').select(['seq', 'started_at']))
        .as('dated'),
    )
    .select((eb) => eb.fn.min('dated.seq').as('seq'))
    .where('dated.started_at', '>=', before)
    .executeTakeFirst();
  // Keep the newest record whatever its age: the next record's prev_hash is its record_hash.
  const keepFrom = Math.min(firstKept?.seq == null ? head : Number(firstKept.seq), head);
  // A prefix of the chain: runs and the reviews and selftests among them (a later review of a removed run stays).
  const { rows } = await sql<{
    first: string | null;
    last: string | null;
    count: string;
    youngest: Date | string | null;
  }>`select min(seq) as first, max(seq) as last, count(*) as count, max(started_at) as youngest
    from (select seq, started_at from run_results where seq < ${String(keepFrom)}
      union all select seq, null from run_reviews where seq < ${String(keepFrom)}
      union all select seq, started_at from selftests where seq < ${String(keepFrom)}) as chain`.execute(
    db,
  );
  const range = rows[0];
  if (range?.first == null || range.last == null || Number(range.count) === 0) return null;
  return {
    firstSeq: Number(range.first),
    lastSeq: Number(range.last),
    records: Number(range.count),
    // Reviews only (no run) in the prefix: nothing as young as a run; the floor is about runs.
    youngestStartedAt: new Date(range.youngest ?? 0),
  };
}

/** A purge was refused because it would remove evidence younger than the retention floor. */
export class RetentionFloorError extends Error {
  override readonly name = 'RetentionFloorError';
}

/**
 * Throws RetentionFloorError when the plan would remove the evidence of a run
 * started less than `minimumMs` before `now`: all or nothing, never a partial cut.
 */
export function checkRetentionFloor(plan: PurgePlan, minimumMs: number, now: Date): void {
  const floor = new Date(now.getTime() - minimumMs);
  if (plan.youngestStartedAt.getTime() <= floor.getTime()) return;
  throw new RetentionFloorError(
    `refusing to purge: it would remove the evidence of runs started as late as ${plan.youngestStartedAt.toISOString()}, younger than the retention floor evidence.retention.minimum (${formatRetention(minimumMs)}: nothing started after ${floor.toISOString()} may go); nothing was removed`,
  );
}

/** The floor as written in config: whole 365-day years or days. */
export function formatRetention(ms: number): string {
  const days = ms / 86_400_000;
  if (Number.isInteger(days / 365)) return `${days / 365}y`;
  return Number.isInteger(days) ? `${days}d` : `${ms}ms`;
}

/** A purge was refused because the chain it would cut is broken. */
export class PurgeRefusedError extends Error {
  override readonly name = 'PurgeRefusedError';
}

export interface PurgeOptions {
  /** Remove the evidence of runs started before this. */
  before: Date;
  /** The purge's clock (tests). */
  now?: Date | undefined;
  host?: string | undefined;
  /** The retention floor in ms: a purge that would remove a run started later than `now` minus this removes nothing. */
  minimumRetentionMs?: number | undefined;
}

/** What a purge removed, and the purge log entry that records it; null `entry` when nothing was old enough. */
export interface PurgeOutcome {
  entry: PurgeEntry | null;
  /** The chain as verified before anything was removed. */
  verifiedBefore: ChainReport;
  /** Start rows removed with their results. */
  starts: number;
  /** Alert log events about the removed runs, removed with them. */
  alerts: number;
}

/**
 * Removes old evidence under a retention policy, the one path the append-only
 * triggers allow. In one transaction, holding the chain lock:
 *  - verifies the whole chain first, and refuses when it is broken (a purge
 *    must not destroy the evidence of tampering);
 *  - refuses, removing nothing, when a run it would remove is younger than
 *    the retention floor (`minimumRetentionMs`);
 *  - removes a prefix of the chain (runs' results and the reviews among
 *    them), up to the last record before the first run started at or after
 *    `before` (a prefix, so the rest still verifies), and never the newest
 *    record, which new records link to;
 *  - removes the alert log's events about those runs (they reference the runs);
 *  - appends a purge log entry with the prev_hash of the first removed record
 *    and the record_hash of the last one: `verify` starts from that anchor.
 * The transaction-local setting `restore_drill.purge = 'on'` is what lets the
 * DELETE trigger pass; it ends with the transaction.
 */
export async function purgeEvidence(
  db: Kysely<Database>,
  options: PurgeOptions,
): Promise<PurgeOutcome> {
  const now = options.now ?? new Date();
  const outcome = await db.transaction().execute(async (trx) => {
    // The appends' lock: no run is added while the chain is checked and cut.
    await sql`select pg_advisory_xact_lock(${sql.lit(CHAIN_LOCK.classId)}, ${sql.lit(CHAIN_LOCK.objectId)})`.execute(
      trx,
    );
    const verified = await verifyChain(trx);
    if (!verified.intact) {
      throw new PurgeRefusedError(
        `refusing to purge: the evidence chain is broken (${verified.break?.message}); purging could destroy the evidence of it. Export it (restore-drill evidence export) and investigate first`,
      );
    }
    const head = verified.head;
    if (head === null) return { entry: null, verifiedBefore: verified, starts: 0, alerts: 0 };
    const plan = await planPurge(trx, options.before, head.seq);
    if (plan === null) return { entry: null, verifiedBefore: verified, starts: 0, alerts: 0 };
    if (options.minimumRetentionMs !== undefined)
      checkRetentionFloor(plan, options.minimumRetentionMs, now);
    const range = {
      first: String(plan.firstSeq),
      last: String(plan.lastSeq),
      count: String(plan.records),
    };
    const hashes = await sql<{ prev_hash: string; record_hash: string }>`
      select (select prev_hash from (select seq, prev_hash from run_results union all
          select seq, prev_hash from run_reviews union all
          select seq, prev_hash from selftests) as chain where seq = ${range.first}) as prev_hash,
        (select record_hash from (select seq, record_hash from run_results union all
          select seq, record_hash from run_reviews union all
          select seq, record_hash from selftests) as chain where seq = ${range.last}) as record_hash`.execute(
      trx,
    );
    const first = { prev_hash: hashes.rows[0]?.prev_hash as string };
    const last = { record_hash: hashes.rows[0]?.record_hash as string };

    await sql`select set_config('restore_drill.purge', 'on', true)`.execute(trx);
    const items = await trx
      .deleteFrom('run_items')
      .where('run_id', 'in', (eb) =>
        eb
          .selectFrom('run_results')
          .select('run_id')
          .where('seq', '<=', range.last as string),
      )
      .executeTakeFirst();
    // Alerts about the removed runs go with them (alert_events.run_id references run_starts, migration 002).
    const purgedRuns = sql`select run_id from run_results where seq <= ${range.last}`;
    await sql`delete from alert_attempts where event_id in (select id from alert_events where run_id in (${purgedRuns}))`.execute(
      trx,
    );
    const alerts = await sql`delete from alert_events where run_id in (${purgedRuns})`.execute(trx);
    await sql`delete from run_reviews where seq <= ${range.last}`.execute(trx);
    await sql`delete from selftests where seq <= ${range.last}`.execute(trx);
    // Results and their starts in one statement: the foreign key is checked at its end.
    const starts = await sql<{ count: string }>`
      with gone as (delete from run_results where seq <= ${range.last} returning run_id)
      delete from run_starts where run_id in (select run_id from gone)`.execute(trx);
    await sql`select set_config('restore_drill.purge', 'off', true)`.execute(trx);

    const row = await withPurgeLog(trx)
      .insertInto('evidence_purges')
      .values({
        purged_at: now,
        cutoff: options.before,
        first_seq: range.first,
        last_seq: range.last,
        records: range.count,
        items: String(items.numDeletedRows),
        from_hash: first.prev_hash,
        anchor_hash: last.record_hash,
        host: options.host ?? hostname(),
        version: VERSION,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const entry: PurgeEntry = {
      id: Number(row.id),
      purgedAt: now.toISOString(),
      cutoff: options.before.toISOString(),
      firstSeq: Number(range.first),
      lastSeq: Number(range.last),
      records: Number(range.count),
      items: Number(items.numDeletedRows),
      fromHash: first.prev_hash,
      anchorHash: last.record_hash,
      host: options.host ?? hostname(),
      version: VERSION,
    };
    return {
      entry,
      verifiedBefore: verified,
      starts: Number(starts.numAffectedRows ?? 0),
      alerts: Number(alerts.numAffectedRows ?? 0),
    };
  });
  await syncEvidence(db);
  return outcome;
}

import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../evidence/database.js';
import { recordRunStart, type RunStart } from '../evidence/runs.js';
import type { RunLeases } from './run-leases.js';
import type { RunSkipRow, SkipReason } from '../evidence/run-skips.table.js';
import { syncEvidence } from '../evidence/durability.js';

/** What became of a scheduled slot on this replica. */
export type SlotOutcome =
  /** This replica recorded the start: it runs the slot. */
  | { outcome: 'claimed' }
  /** Another replica got there first, with a start or a skip. */
  | { outcome: 'taken'; by: 'run' | 'skip' }
  /** This replica recorded that the slot does not run. */
  | { outcome: 'skipped'; reason: SkipReason; blockingRunId: string | null; detail: string };

/** A skip to record for a slot. */
export interface SlotSkip {
  drill: string;
  slot: Date;
  reason: SkipReason;
  detail: string;
  blockingRunId?: string | null;
  now?: Date;
}

/**
 * Key of the per-drill claim lock (`pg_advisory_xact_lock`, bigint key space):
 * 'RS' in the top 16 bits, 48 bits of SHA-256 of the drill name below. Held only
 * for the claim's transaction, it serialises the decisions about one drill's
 * slots across every replica.
 */
export function drillClaimKey(drill: string): bigint {
  return (0x5253n << 48n) | BigInt(createHash('sha256').update(drill).digest().readUIntBE(0, 6));
}

/**
 * The cron slot as every replica computes it: the scheduled time (never the
 * time the timer fired), truncated to the second.
 */
export function slotTime(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

/**
 * Claims a scheduled slot of a drill for the run in `start`, or records why it
 * does not run. In one transaction holding the drill's claim lock: a slot that
 * already has a start or a skip is taken; a drill with an unfinished run whose
 * owner is alive (this process or any replica holding the run's lease) gets a
 * skip `overlap` naming that run; otherwise the start is recorded. So each slot
 * ends with exactly one start or one skip, whichever replicas race for it.
 */
export async function claimSlot(
  db: Kysely<Database>,
  leases: RunLeases,
  start: RunStart,
): Promise<SlotOutcome> {
  if (start.scheduledFor === null)
    throw new Error(`claimSlot needs a scheduled run; run ${start.runId} has no slot`);
  const slot = start.scheduledFor;
  return withDrillLock(db, start.drill, async (trx) => {
    const taken = await slotTaken(trx, start.drill, slot);
    if (taken) return { outcome: 'taken', by: taken };
    const unfinished = await trx
      .selectFrom('run_starts as s')
      .select([
        's.run_id',
        's.host',
        's.pid',
        's.process_start',
        's.boot_id',
        's.started_at',
        's.scheduled_for',
      ])
      .where('s.drill', '=', start.drill)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('run_results as r').select('r.seq').whereRef('r.run_id', '=', 's.run_id'),
          ),
        ),
      )
      .orderBy('s.started_at')
      .execute();
    if (unfinished.length > 0) {
      const alive = await leases.alive(
        unfinished.map((row) => ({
          runId: row.run_id,
          host: row.host,
          pid: row.pid,
          processStart: row.process_start === null ? null : Number(row.process_start),
          bootId: row.boot_id,
        })),
        // On the transaction's own connection: a second one from the pool could wait forever under load.
        trx,
      );
      const blocking = unfinished.find((row) => alive.has(row.run_id));
      if (blocking) {
        const of = blocking.scheduled_for
          ? `slot ${blocking.scheduled_for.toISOString()}`
          : 'a manual run';
        const detail = `run ${blocking.run_id} (${of}, started ${blocking.started_at.toISOString()} by process ${blocking.pid} on ${blocking.host}) is still going`;
        await insertSkip(trx, {
          drill: start.drill,
          slot,
          reason: 'overlap',
          detail,
          blockingRunId: blocking.run_id,
        });
        return { outcome: 'skipped', reason: 'overlap', blockingRunId: blocking.run_id, detail };
      }
    }
    return (await recordRunStart(trx, start))
      ? { outcome: 'claimed' }
      : { outcome: 'taken', by: 'run' };
  });
}

/**
 * Records that a slot does not run (its predecessor still queued, the daemon too
 * late or stopping), unless a replica already started or skipped it.
 */
export async function recordSlotSkip(db: Kysely<Database>, skip: SlotSkip): Promise<SlotOutcome> {
  const slot = slotTime(skip.slot);
  return withDrillLock(db, skip.drill, async (trx) => {
    const taken = await slotTaken(trx, skip.drill, slot);
    if (taken) return { outcome: 'taken', by: taken };
    await insertSkip(trx, { ...skip, slot });
    return {
      outcome: 'skipped',
      reason: skip.reason,
      blockingRunId: skip.blockingRunId ?? null,
      detail: skip.detail,
    };
  });
}

/** Skipped slots, oldest first, optionally of some drills or since a time. */
export async function listSkips(
  db: Kysely<Database>,
  filter: { drill?: readonly string[]; since?: Date } = {},
): Promise<RunSkipRow[]> {
  let query = db.selectFrom('run_skips').selectAll();
  if (filter.drill !== undefined)
    query =
      filter.drill.length === 0
        ? query.where(sql.lit(false))
        : query.where('drill', 'in', filter.drill);
  if (filter.since !== undefined) query = query.where('scheduled_for', '>=', filter.since);
  return query.orderBy('scheduled_for').orderBy('id').execute();
}

async function withDrillLock<T>(
  db: Kysely<Database>,
  drill: string,
  work: (trx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  // Read committed whatever the server's default: after the lock, see what the previous holder committed.
  const outcome = await db
    .transaction()
    .setIsolationLevel('read committed')
    .execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${drillClaimKey(drill).toString()}::bigint)`.execute(
        trx,
      );
      return work(trx);
    });
  // A claim or skip is evidence too: on disk before the slot runs or is reported skipped.
  await syncEvidence(db);
  return outcome;
}

async function slotTaken(
  trx: Transaction<Database>,
  drill: string,
  slot: Date,
): Promise<'run' | 'skip' | null> {
  const started = await trx
    .selectFrom('run_starts')
    .select('run_id')
    .where('drill', '=', drill)
    .where('scheduled_for', '=', slot)
    .executeTakeFirst();
  if (started) return 'run';
  const skipped = await trx
    .selectFrom('run_skips')
    .select('id')
    .where('drill', '=', drill)
    .where('scheduled_for', '=', slot)
    .executeTakeFirst();
  return skipped ? 'skip' : null;
}

async function insertSkip(trx: Transaction<Database>, skip: SlotSkip): Promise<void> {
  await trx
    .insertInto('run_skips')
    .values({
      drill: skip.drill,
      scheduled_for: skip.slot,
      reason: skip.reason,
      blocking_run_id: skip.blockingRunId ?? null,
      detail: skip.detail,
      recorded_at: skip.now ?? new Date(),
      host: hostname(),
      pid: process.pid,
    })
    .execute();
}

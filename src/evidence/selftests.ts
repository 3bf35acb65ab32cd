import { sql, type Kysely, type Transaction } from 'kysely';
import { z } from 'zod';
import { canonicalJson } from './canonical-json.js';
import type { Database } from './database.js';
import { EvidenceError } from './errors.js';
import { CHAIN_LOCK, chainHead, computeRecordHash, GENESIS_HASH } from './runs.js';
import { syncEvidence } from './durability.js';

// A selftest is a record of the evidence chain like a run's result or a review:
// canonical JSON, hashed after the record before it, never edited.

/** One kind of damage a selftest made, and whether the drill's checks caught it. */
export const selftestDamageSchema = z.object({
  /** `flipped-byte`, `truncated-file`, `deleted-file`, `added-file`, `changed-link-target`, `deleted-rows`, `updated-value`. */
  kind: z.string(),
  /** The file, link or table damaged. */
  target: z.string(),
  detected: z.boolean(),
  /** The checks that failed on the damaged copy (`checks.manifest`…); empty when none did. */
  by: z.array(z.string()),
  /** For an undetected kind: "this drill would not notice …: add …". */
  finding: z.string().optional(),
});
export type SelftestDamage = z.infer<typeof selftestDamageSchema>;

/** A selftest as stored in the chain (the record's canonical JSON parses to this). */
export const selftestRecordSchema = z.object({
  kind: z.literal('selftest'),
  /** The selftest's own id (it is not a run; the chain names records by this field). */
  runId: z.string(),
  drill: z.string(),
  /** passed: every kind detected; failed: at least one was not; error: the selftest could not judge. */
  verdict: z.enum(['passed', 'failed', 'error']),
  cause: z.string().nullable(),
  startedAt: z.string(),
  finishedAt: z.string(),
  durationMs: z.number().int(),
  set: z.object({ id: z.string(), path: z.string() }).nullable(),
  /** True when only the drill's sample was restored and damaged. */
  sampled: z.boolean(),
  damages: z.array(selftestDamageSchema),
  host: z.string(),
  version: z.string(),
  configHash: z.string(),
});
export type SelftestRecord = z.infer<typeof selftestRecordSchema>;

/** A stored selftest and its place in the chain. */
export interface StoredSelftest extends SelftestRecord {
  seq: number;
  recordHash: string;
}

type Db = Kysely<Database> | Transaction<Database>;

/** Appends a selftest's result to the evidence chain, holding the chain lock as run appends do. */
export async function recordSelftest(
  db: Kysely<Database>,
  record: SelftestRecord,
): Promise<StoredSelftest> {
  const parsed = selftestRecordSchema.safeParse(record);
  if (!parsed.success)
    throw new EvidenceError(
      'invalid-record',
      `selftest ${record.runId}: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ')}`,
    );
  const text = canonicalJson(parsed.data);
  const stored = await db
    .transaction()
    .setIsolationLevel('read committed')
    .execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${sql.lit(CHAIN_LOCK.classId)}, ${sql.lit(CHAIN_LOCK.objectId)})`.execute(
        trx,
      );
      const prevHash = (await chainHead(trx))?.recordHash ?? GENESIS_HASH;
      const recordHash = computeRecordHash(prevHash, text);
      const row = await trx
        .insertInto('selftests')
        .values({
          run_id: parsed.data.runId,
          drill: parsed.data.drill,
          verdict: parsed.data.verdict,
          started_at: parsed.data.startedAt,
          undetected: parsed.data.damages.filter((damage) => !damage.detected).length,
          record: text,
          prev_hash: prevHash,
          record_hash: recordHash,
        })
        .returning('seq')
        .executeTakeFirstOrThrow();
      return { ...parsed.data, seq: Number(row.seq), recordHash };
    });
  await syncEvidence(db);
  return stored;
}

/** The latest selftest of each drill that has one (of `drills` when given), keyed by drill. */
export async function latestSelftests(
  db: Db,
  drills?: readonly string[],
): Promise<Map<string, StoredSelftest>> {
  const latest = new Map<string, StoredSelftest>();
  if (drills !== undefined && drills.length === 0) return latest;
  let query = db
    .selectFrom('selftests')
    .distinctOn('drill')
    .select(['seq', 'run_id', 'drill', 'record', 'record_hash'])
    .orderBy('drill')
    .orderBy('seq', 'desc');
  if (drills !== undefined) query = query.where('drill', 'in', drills);
  for (const row of await query.execute()) latest.set(row.drill, parseStoredSelftest(row));
  return latest;
}

function parseStoredSelftest(row: {
  seq: string;
  run_id: string;
  record: string;
  record_hash: string;
}): StoredSelftest {
  let value: unknown;
  try {
    value = JSON.parse(row.record);
  } catch {
    value = undefined;
  }
  const parsed = selftestRecordSchema.safeParse(value);
  if (!parsed.success || parsed.data.runId !== row.run_id)
    throw new EvidenceError(
      'corrupt-record',
      `stored selftest seq ${row.seq} (${row.run_id}) is not a valid selftest record; run restore-drill evidence verify`,
    );
  return { ...parsed.data, seq: Number(row.seq), recordHash: row.record_hash };
}

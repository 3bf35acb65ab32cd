import { hostname } from 'node:os';
import { sql, type Kysely, type Transaction } from 'kysely';
import { z } from 'zod';
import { VERSION } from '../version.js';
import { canonicalJson } from './canonical-json.js';
import { REVIEW_DECISIONS, type Database } from './database.js';
import { EvidenceError } from './errors.js';
import { runVerdictSchema } from './run-record.js';
import { CHAIN_LOCK, chainHead, computeRecordHash, GENESIS_HASH, getRun } from './runs.js';
import { syncEvidence } from './durability.js';

// A review (sign-off) is a record of the evidence chain like a run's result:
// canonical JSON, hashed after the record before it, never edited. Several
// reviews of one run stand in chain order; the latest one is the run's status.

/** Who may be named as a reviewer, and what a note or ticket may hold: one line each, printable. */
const oneLine = (what: string, max: number) =>
  z
    .string()
    .trim()
    .min(1, { message: `expected ${what}, got an empty string` })
    .max(max, { message: `expected at most ${max} characters` })
    .refine((value) => !/\p{Cc}/u.test(value), {
      message: 'expected one line without control characters',
    });

/** What a person asks for when signing off a run. */
export const reviewInputSchema = z.object({
  /** The reviewed run: its id or a unique prefix of it. */
  runId: z.string().trim().min(1, {
    message: 'expected a run id or a unique prefix of it, got an empty string',
  }),
  /** The reviewer's name (the web records the signed-in user). */
  by: oneLine('a reviewer name', 200),
  decision: z.enum(REVIEW_DECISIONS),
  note: z
    .string()
    .trim()
    .min(1, { message: 'expected a note saying what was decided, got an empty string' })
    .max(4000, { message: 'expected at most 4000 characters' }),
  ticket: oneLine('a ticket id', 200).nullable().optional(),
  /** Where it was signed: the CLI or the web view. */
  via: z.enum(['cli', 'web']),
});
export type ReviewInput = z.input<typeof reviewInputSchema>;

/** A review as stored in the chain (the record's canonical JSON parses to this). */
export const reviewRecordSchema = z.object({
  kind: z.literal('review'),
  runId: z.string(),
  /** The reviewed run's drill and verdict, as recorded. */
  drill: z.string(),
  verdict: runVerdictSchema,
  /** ISO 8601 with offset. */
  reviewedAt: z.string(),
  by: z.string(),
  decision: z.enum(REVIEW_DECISIONS),
  note: z.string(),
  ticket: z.string().nullable(),
  via: z.enum(['cli', 'web']),
  host: z.string(),
  version: z.string(),
});
export type ReviewRecord = z.infer<typeof reviewRecordSchema>;

/** A stored review and its place in the chain. */
export interface StoredReview extends ReviewRecord {
  seq: number;
  recordHash: string;
}

type Db = Kysely<Database> | Transaction<Database>;

/**
 * Appends a review of a finished run to the evidence chain, holding the chain
 * lock as run appends do. Throws EvidenceError 'unknown-run' when no finished
 * run matches the id, 'invalid-record' for bad input (naming the field).
 */
export async function recordReview(
  db: Kysely<Database>,
  input: ReviewInput,
  options: { now?: Date; host?: string } = {},
): Promise<StoredReview> {
  const parsed = reviewInputSchema.safeParse(input);
  if (!parsed.success) {
    throw new EvidenceError(
      'invalid-record',
      `${input.runId.trim() === '' ? 'review' : `review of run ${input.runId}`}: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ')}`,
    );
  }
  const wanted = parsed.data;
  // READ WRITE said outright: the web view's sessions default to read-only, and a
  // sign-off is the one write it makes.
  const stored = await db
    .transaction()
    .setIsolationLevel('read committed')
    .setAccessMode('read write')
    .execute(async (trx) => {
      const run = await getRun(trx, wanted.runId);
      if (run === undefined)
        throw new EvidenceError(
          'unknown-run',
          `no finished run '${wanted.runId}' in the evidence database to sign off`,
        );
      const record: ReviewRecord = {
        kind: 'review',
        runId: run.record.runId,
        drill: run.record.drill,
        verdict: run.record.verdict,
        reviewedAt: (options.now ?? new Date()).toISOString(),
        by: wanted.by,
        decision: wanted.decision,
        note: wanted.note,
        ticket: wanted.ticket ?? null,
        via: wanted.via,
        host: options.host ?? hostname(),
        version: VERSION,
      };
      const text = canonicalJson(record);
      await sql`select pg_advisory_xact_lock(${sql.lit(CHAIN_LOCK.classId)}, ${sql.lit(CHAIN_LOCK.objectId)})`.execute(
        trx,
      );
      const prevHash = (await chainHead(trx))?.recordHash ?? GENESIS_HASH;
      const recordHash = computeRecordHash(prevHash, text);
      const row = await trx
        .insertInto('run_reviews')
        .values({
          run_id: record.runId,
          reviewed_at: record.reviewedAt,
          reviewer: record.by,
          decision: record.decision,
          note: record.note,
          ticket: record.ticket,
          record: text,
          prev_hash: prevHash,
          record_hash: recordHash,
        })
        .returning('seq')
        .executeTakeFirstOrThrow();
      return { ...record, seq: Number(row.seq), recordHash };
    });
  await syncEvidence(db);
  return stored;
}

/** The reviews of the given runs (all when absent), in chain order. */
export async function listReviews(db: Db, runIds?: readonly string[]): Promise<StoredReview[]> {
  if (runIds !== undefined && runIds.length === 0) return [];
  let query = db.selectFrom('run_reviews').select(['seq', 'run_id', 'record', 'record_hash']);
  if (runIds !== undefined) query = query.where('run_id', 'in', runIds);
  const rows = await query.orderBy('seq').execute();
  return rows.map((row) => parseStoredReview(row));
}

/** The latest review of each run (by chain order), keyed by run id. */
export async function latestReviews(
  db: Db,
  runIds: readonly string[],
): Promise<Map<string, StoredReview>> {
  const latest = new Map<string, StoredReview>();
  for (const review of await listReviews(db, runIds)) latest.set(review.runId, review);
  return latest;
}

function parseStoredReview(row: {
  seq: string;
  run_id: string;
  record: string;
  record_hash: string;
}): StoredReview {
  let value: unknown;
  try {
    value = JSON.parse(row.record);
  } catch {
    value = undefined;
  }
  const parsed = reviewRecordSchema.safeParse(value);
  if (!parsed.success || parsed.data.runId !== row.run_id) {
    throw new EvidenceError(
      'corrupt-record',
      `stored review seq ${row.seq} (of run ${row.run_id}) is not a valid review record; run restore-drill evidence verify`,
    );
  }
  return { ...parsed.data, seq: Number(row.seq), recordHash: row.record_hash };
}

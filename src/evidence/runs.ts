import { createHash } from 'node:crypto';
import { sql, type Kysely, type SelectQueryBuilder, type Transaction } from 'kysely';
import { z } from 'zod';
import { canonicalJson } from './canonical-json.js';
import type { Database, NewRunResultRow, RunStartRow } from './database.js';
import { EvidenceError, reasonOf } from './errors.js';
import { runItemSchema, runRecordSchema, type RunItem, type RunRecord } from './run-record.js';
import { syncEvidence } from './durability.js';

/** `prev_hash` of the first record in the chain. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * The advisory lock that serialises chain appends across processes sharing one
 * database: `pg_advisory_xact_lock(classId, objectId)`. The class id is 'RDRL' in
 * ASCII; other object ids under it are free for later locks (purges, say).
 */
export const CHAIN_LOCK = { classId: 0x5244_524c, objectId: 1 } as const;

/**
 * Items per INSERT. Each batch goes as three arrays expanded by `unnest`, four parameters
 * whatever its size: one statement of 10,000 rows costs the embedded store about a tenth of
 * ten 1,000-row statements of four parameters a row.
 */
export const ITEM_BATCH_SIZE = 10_000;

/** Shortest run id prefix `getRun` resolves, as git does for hashes. */
export const MIN_RUN_ID_PREFIX = 4;

/** sha256hex(prevHash + '\n' + recordText): one link of the evidence chain. */
export function computeRecordHash(prevHash: string, recordText: string): string {
  return createHash('sha256').update(`${prevHash}\n${recordText}`).digest('hex');
}

/** A run as it starts: what `run_starts` holds. */
export const runStartSchema = z
  .object({
    runId: z.uuid(),
    drill: z.string().min(1),
    trigger: runRecordSchema.shape.trigger,
    /** The cron slot, for scheduled runs only. */
    scheduledFor: z.date().nullable(),
    replayOf: z.string().nullable(),
    startedAt: z.date(),
    host: z.string(),
    pid: z.number().int().nonnegative(),
    /** The process's start in clock ticks since boot, when the host has /proc: tells a reused pid apart. */
    processStart: z.number().int().nonnegative().nullable().optional(),
    /** The host's boot id at the start, when it has /proc. */
    bootId: z.string().nullable().optional(),
    version: z.string(),
    configHash: z.string(),
    scratchDir: z.string().nullable(),
  })
  .refine((start) => (start.trigger === 'schedule') === (start.scheduledFor !== null), {
    path: ['scheduledFor'],
    message: 'expected a slot time for a scheduled run and null for any other trigger',
  });
export type RunStart = z.infer<typeof runStartSchema>;

/** A finished run as stored: its record and its place in the chain. */
export interface StoredRun {
  record: RunRecord;
  seq: number;
  prevHash: string;
  recordHash: string;
}

/** Which finished runs `listRuns` and `countRuns` return. */
export interface RunFilter {
  drill?: readonly string[] | undefined;
  /** Runs started at or after this. */
  since?: Date | undefined;
  /** Runs started before this. */
  until?: Date | undefined;
  verdict?: readonly string[] | undefined;
}

export interface ListRunsOptions extends RunFilter {
  /** At most this many (newest first); all when absent. */
  limit?: number | undefined;
}

/** A database handle or an open transaction: repository functions take either. */
type Db = Kysely<Database> | Transaction<Database>;

/**
 * Records that a run started. For a scheduled run this is also the slot claim:
 * false when another process already claimed `(drill, scheduledFor)`, and the
 * caller must not run the slot. A second start with the same run id is an error.
 */
export async function recordRunStart(db: Db, start: RunStart): Promise<boolean> {
  const parsed = parseInput(runStartSchema, start, `run start ${describeId(start)}`);
  try {
    const result = await db
      .insertInto('run_starts')
      .values({
        run_id: parsed.runId,
        drill: parsed.drill,
        trigger: parsed.trigger,
        scheduled_for: parsed.scheduledFor,
        replay_of: parsed.replayOf,
        started_at: parsed.startedAt,
        host: parsed.host,
        pid: parsed.pid,
        process_start: parsed.processStart ?? null,
        boot_id: parsed.bootId ?? null,
        version: parsed.version,
        config_hash: parsed.configHash,
        scratch_dir: parsed.scratchDir,
      })
      .onConflict((conflict) => conflict.columns(['drill', 'scheduled_for']).doNothing())
      .executeTakeFirst();
    await syncEvidence(db);
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  } catch (error) {
    if (isUniqueViolation(error, 'run_starts_pkey')) {
      throw new EvidenceError(
        'duplicate-run',
        `run ${parsed.runId} was already started; run ids must be unique`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * Appends a finished run to the evidence chain, with its items, in one
 * transaction. The record is validated first and stored as canonical JSON;
 * `record_hash` = sha256(prev_hash + '\n' + record). Appends from concurrent
 * processes are serialised by an advisory lock, taken only after the items are
 * written so it is held briefly. Refuses a run without a start, and a second
 * result for a run (evidence is never rewritten).
 */
export async function recordRunResult(
  db: Kysely<Database>,
  record: RunRecord,
  items: Iterable<RunItem> | AsyncIterable<RunItem>,
): Promise<{ seq: number; recordHash: string }> {
  const parsed = parseInput(runRecordSchema, record, `run record ${describeId(record)}`);
  const runId = parsed.runId;
  const where = `run record ${runId}`;
  for (const [field, value] of [
    ['startedAt', parsed.startedAt],
    ['finishedAt', parsed.finishedAt],
  ] as const) {
    if (!isoTime.safeParse(value).success) {
      throw new EvidenceError(
        'invalid-record',
        `${where}: ${field}: expected an ISO 8601 time with offset, got '${value}'`,
      );
    }
  }
  if (!Number.isSafeInteger(parsed.restored.bytes) || parsed.restored.bytes < 0) {
    throw new EvidenceError(
      'invalid-record',
      `${where}: restored.bytes: expected a whole number of bytes, got ${parsed.restored.bytes}`,
    );
  }
  const recordText = canonicalJson(parsed);
  try {
    // Read committed whatever the server's default: the read of the last hash must see
    // every append committed before the chain lock was granted, not an earlier snapshot.
    const appended = await db
      .transaction()
      .setIsolationLevel('read committed')
      .execute(async (trx) => {
        const start = await trx
          .selectFrom('run_starts')
          .select('drill')
          .where('run_id', '=', runId)
          .executeTakeFirst();
        if (start === undefined) {
          throw new EvidenceError(
            'no-start',
            `cannot record the result of run ${runId}: no start was recorded for it`,
          );
        }
        if (start.drill !== parsed.drill) {
          throw new EvidenceError(
            'invalid-record',
            `${where}: drill: expected '${start.drill}' (as the run started), got '${parsed.drill}'`,
          );
        }
        const existing = await trx
          .selectFrom('run_results')
          .select('seq')
          .where('run_id', '=', runId)
          .executeTakeFirst();
        if (existing !== undefined) throw duplicateResult(runId, existing.seq);
        await insertItems(trx, runId, items);

        await sql`select pg_advisory_xact_lock(${sql.lit(CHAIN_LOCK.classId)}, ${sql.lit(CHAIN_LOCK.objectId)})`.execute(
          trx,
        );
        const last = await chainHead(trx);
        const resultRow = runResultRow(parsed, recordText, last?.recordHash ?? GENESIS_HASH);
        const row = await trx
          .insertInto('run_results')
          .values(resultRow)
          .returning('seq')
          .executeTakeFirstOrThrow();
        return { seq: Number(row.seq), recordHash: resultRow.record_hash };
      });
    await syncEvidence(db);
    return appended;
  } catch (error) {
    // Two writers of the same run's result raced past the check above.
    if (isUniqueViolation(error, 'run_results_run_id_key'))
      throw duplicateResult(runId, undefined, error);
    throw error;
  }
}

const isoTime = z.iso.datetime({ offset: true });

/**
 * The newest record of the chain, a run's result, a review or a selftest (they share one
 * seq order); undefined when the chain is empty. Appenders hold CHAIN_LOCK.
 */
export async function chainHead(db: Db): Promise<{ seq: number; recordHash: string } | undefined> {
  const row = await db
    .selectFrom((eb) =>
      eb
        .selectFrom('run_results')
        .select(['seq', 'record_hash'])
        .unionAll(eb.selectFrom('run_reviews').select(['seq', 'record_hash']))
        .unionAll(eb.selectFrom('selftests').select(['seq', 'record_hash']))
        .as('chain'),
    )
    .select(['chain.seq', 'chain.record_hash'])
    .orderBy('chain.seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row === undefined ? undefined : { seq: Number(row.seq), recordHash: row.record_hash };
}

/** The `run_results` row of a validated record: its canonical text, chained after `prevHash`. */
export function runResultRow(
  record: RunRecord,
  recordText: string,
  prevHash: string,
): NewRunResultRow {
  return {
    run_id: record.runId,
    drill: record.drill,
    verdict: record.verdict,
    started_at: record.startedAt,
    finished_at: record.finishedAt,
    set_path: record.set?.path ?? null,
    files: record.restored.files,
    bytes: record.restored.bytes,
    checks_failed: record.checks.filter((check) => check.verdict === 'failed').length,
    restore_ms: record.timings.restoreMs,
    verify_ms: record.timings.verifyMs,
    total_ms: record.timings.totalMs,
    record: recordText,
    prev_hash: prevHash,
    record_hash: computeRecordHash(prevHash, recordText),
  };
}

async function insertItems(
  trx: Transaction<Database>,
  runId: string,
  items: Iterable<RunItem> | AsyncIterable<RunItem>,
): Promise<void> {
  let batch: ItemColumns = { paths: [], sizes: [], hashes: [], targets: [] };
  let index = 0;
  for await (const item of items) {
    const parsed = runItemSchema.safeParse(item);
    if (!parsed.success) {
      throw new EvidenceError(
        'invalid-record',
        `run ${runId} item ${index}: ${describeIssues(parsed.error)}`,
      );
    }
    if (!Number.isSafeInteger(parsed.data.size) || parsed.data.size < 0) {
      throw new EvidenceError(
        'invalid-record',
        `run ${runId} item ${index} (${parsed.data.path}): size: expected a whole number of bytes, got ${parsed.data.size}`,
      );
    }
    batch.paths.push(parsed.data.path);
    batch.sizes.push(parsed.data.size);
    batch.hashes.push(parsed.data.sha256);
    batch.targets.push(parsed.data.linkTarget ?? null);
    index++;
    if (batch.paths.length === ITEM_BATCH_SIZE) {
      await insertItemBatch(trx, runId, batch);
      batch = { paths: [], sizes: [], hashes: [], targets: [] };
    }
  }
  if (batch.paths.length > 0) await insertItemBatch(trx, runId, batch);
}

/** A batch of items column by column, as `unnest` takes them. */
export interface ItemColumns {
  paths: string[];
  sizes: number[];
  hashes: (string | null)[];
  /** Link targets; null for regular files. */
  targets: (string | null)[];
}

/** Inserts one batch of a run's items (also restoring a backup's bundle). */
export async function insertItemBatch(
  trx: Transaction<Database>,
  runId: string,
  batch: ItemColumns,
): Promise<void> {
  await sql`insert into run_items (run_id, path, size, sha256, link_target)
    select ${runId}, item.path, item.size, item.sha256, item.link_target
    from unnest(${batch.paths}::text[], ${batch.sizes}::int8[], ${batch.hashes}::text[], ${batch.targets}::text[])
      as item(path, size, sha256, link_target)`.execute(trx);
}

function duplicateResult(runId: string, seq: string | undefined, cause?: unknown): EvidenceError {
  const at = seq === undefined ? '' : ` (seq ${seq})`;
  return new EvidenceError(
    'duplicate-result',
    `run ${runId} already has a result${at}; evidence is append-only and is never replaced`,
    {
      cause,
    },
  );
}

/** Finished runs, newest first (by start time), each record parsed and validated. */
export async function listRuns(db: Db, options: ListRunsOptions = {}): Promise<RunRecord[]> {
  let query = applyFilter(db.selectFrom('run_results'), options)
    .select(['seq', 'run_id', 'record'])
    .orderBy('started_at', 'desc')
    .orderBy('seq', 'desc');
  if (options.limit !== undefined) query = query.limit(options.limit);
  const rows = await query.execute();
  return rows.map((row) => parseStoredRecord(row));
}

/**
 * Finished runs, newest first, as `listRuns` gives them, read a page at a time (keyset on
 * start time and seq), so memory stays flat whatever the limit.
 */
export async function* streamRuns(
  db: Db,
  options: ListRunsOptions & { pageSize?: number } = {},
): AsyncGenerator<RunRecord> {
  const pageSize = options.pageSize ?? 1_000;
  let remaining = options.limit ?? Infinity;
  let after: { startedAt: Date; seq: string } | null = null;
  while (remaining > 0) {
    let query = applyFilter(db.selectFrom('run_results'), options)
      .select(['seq', 'run_id', 'record', 'started_at'])
      .orderBy('started_at', 'desc')
      .orderBy('seq', 'desc')
      .limit(Math.min(pageSize, remaining));
    if (after !== null) {
      const { startedAt, seq } = after;
      // Rows after the last one sent: (started_at, seq) below it. The plain `started_at <=`
      // bound lets the index scan start there; as one OR it was a filter, and every page
      // read the index from the top again (100,000 runs: 100 pages, 18 s).
      query = query
        .where('started_at', '<=', startedAt)
        .where((eb) => eb.or([eb('started_at', '<', startedAt), eb('seq', '<', seq)]));
    }
    const rows = await query.execute();
    for (const row of rows) yield parseStoredRecord(row);
    if (rows.length < Math.min(pageSize, remaining)) return;
    remaining -= rows.length;
    const last = rows[rows.length - 1]!;
    after = { startedAt: new Date(last.started_at), seq: last.seq };
  }
}

/** How many finished runs match (count(*) comes back as text from node-postgres). */
export async function countRuns(db: Db, filter: RunFilter = {}): Promise<number> {
  const row = await applyFilter(db.selectFrom('run_results'), filter)
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

function applyFilter<O>(
  query: SelectQueryBuilder<Database, 'run_results', O>,
  filter: RunFilter,
): SelectQueryBuilder<Database, 'run_results', O> {
  let q = query;
  if (filter.drill !== undefined)
    q = filter.drill.length === 0 ? q.where(sql.lit(false)) : q.where('drill', 'in', filter.drill);
  if (filter.verdict !== undefined)
    q =
      filter.verdict.length === 0
        ? q.where(sql.lit(false))
        : q.where('verdict', 'in', filter.verdict);
  if (filter.since !== undefined) q = q.where('started_at', '>=', filter.since);
  if (filter.until !== undefined) q = q.where('started_at', '<', filter.until);
  return q;
}

/**
 * One finished run by id, or by a unique prefix of at least 4 characters (as
 * git does). Undefined when nothing matches; an error when a prefix is ambiguous.
 */
export async function getRun(db: Db, runIdOrPrefix: string): Promise<StoredRun | undefined> {
  const columns = ['seq', 'run_id', 'record', 'prev_hash', 'record_hash'] as const;
  let row = await db
    .selectFrom('run_results')
    .select(columns)
    .where('run_id', '=', runIdOrPrefix)
    .executeTakeFirst();
  if (row === undefined && runIdOrPrefix.length >= MIN_RUN_ID_PREFIX) {
    const rows = await db
      .selectFrom('run_results')
      .select(columns)
      .where('run_id', 'like', prefixPattern(runIdOrPrefix))
      .orderBy('run_id')
      .limit(3)
      .execute();
    row = onlyMatch(runIdOrPrefix, rows);
  }
  if (row === undefined) return undefined;
  return {
    record: parseStoredRecord(row),
    seq: Number(row.seq),
    prevHash: row.prev_hash,
    recordHash: row.record_hash,
  };
}

/** Every item of a run (files and links), ordered by path (bytewise). */
export async function listRunItems(db: Db, runId: string): Promise<RunItem[]> {
  const rows = await db
    .selectFrom('run_items')
    .select(['path', 'size', 'sha256', 'link_target'])
    .where('run_id', '=', runId)
    .orderBy('path')
    .execute();
  return rows.map(runItemOf);
}

/** A run_items row as a RunItem: `linkTarget` only for links. */
export function runItemOf(row: {
  path: string;
  size: string | number;
  sha256: string | null;
  link_target: string | null;
}): RunItem {
  const item: RunItem = { path: row.path, size: Number(row.size), sha256: row.sha256 };
  if (row.link_target !== null) item.linkTarget = row.link_target;
  return item;
}

/** run_starts rows without a result. */
function unfinishedStarts(db: Db) {
  return db
    .selectFrom('run_starts as s')
    .selectAll('s')
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('run_results as r').select('r.seq').whereRef('r.run_id', '=', 's.run_id'),
        ),
      ),
    );
}

/**
 * How many runs started and have no result: the starts less the results, as every result names
 * its start, once. Two counts the run id indexes answer (once the tables are vacuumed), where
 * `unfinishedStarts` reads every start and hashes every result's id: at 100,000 runs on the
 * embedded store about 50 ms of CPU instead of 400, paid by every `run` and `history`.
 */
async function countUnfinished(db: Db): Promise<number> {
  const { rows } = await sql<{ unfinished: string }>`
    select (select count(*) from run_starts) - (select count(*) from run_results) as unfinished`.execute(
    db,
  );
  return Number(rows[0]?.unfinished ?? 0);
}

/** Runs that started and have no result: still running, or interrupted (oldest first). */
export async function findUnfinishedRuns(db: Db): Promise<RunStart[]> {
  if ((await countUnfinished(db)) === 0) return [];
  const rows = await unfinishedStarts(db).orderBy('s.started_at').orderBy('s.run_id').execute();
  return rows.map(toRunStart);
}

/**
 * A started run without a result, by id or by a unique prefix of at least 4 characters
 * (as `getRun`). Undefined when none matches; an error when a prefix is ambiguous.
 */
export async function findUnfinishedRun(
  db: Db,
  runIdOrPrefix: string,
): Promise<RunStart | undefined> {
  const unfinished = unfinishedStarts(db);
  const exact = await unfinished.where('s.run_id', '=', runIdOrPrefix).executeTakeFirst();
  if (exact !== undefined) return toRunStart(exact);
  if (runIdOrPrefix.length < MIN_RUN_ID_PREFIX) return undefined;
  const rows = await unfinished
    .where('s.run_id', 'like', prefixPattern(runIdOrPrefix))
    .orderBy('s.run_id')
    .limit(3)
    .execute();
  const row = onlyMatch(runIdOrPrefix, rows);
  return row === undefined ? undefined : toRunStart(row);
}

/** A LIKE pattern matching run ids that start with `prefix` (its wildcards escaped). */
function prefixPattern(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** The one row a run id prefix matched (up to 3 fetched); an error naming the matches when several did. */
function onlyMatch<Row extends { run_id: string }>(
  prefix: string,
  rows: readonly Row[],
): Row | undefined {
  if (rows.length > 1) {
    const shown = rows
      .slice(0, 2)
      .map((r) => r.run_id)
      .join(', ');
    throw new EvidenceError(
      'ambiguous-run-id',
      `run id prefix '${prefix}' is ambiguous: it matches ${shown}${rows.length > 2 ? ' and more' : ''}`,
    );
  }
  return rows[0];
}

/** The newest passing run of a drill (by start time), if any. */
export async function lastPassingRun(db: Db, drill: string): Promise<RunRecord | undefined> {
  const [record] = await listRuns(db, { drill: [drill], verdict: ['passed'], limit: 1 });
  return record;
}

function toRunStart(row: RunStartRow): RunStart {
  return {
    runId: row.run_id,
    drill: row.drill,
    trigger: row.trigger,
    scheduledFor: row.scheduled_for,
    replayOf: row.replay_of,
    startedAt: row.started_at,
    host: row.host,
    pid: row.pid,
    // Absent, not null, for runs recorded before 006 or on hosts without /proc.
    ...(row.process_start === null ? {} : { processStart: Number(row.process_start) }),
    ...(row.boot_id === null ? {} : { bootId: row.boot_id }),
    version: row.version,
    configHash: row.config_hash,
    scratchDir: row.scratch_dir,
  };
}

function parseStoredRecord(row: { seq: string; run_id: string; record: string }): RunRecord {
  let value: unknown;
  try {
    value = JSON.parse(row.record);
  } catch (error) {
    throw new EvidenceError(
      'corrupt-record',
      `stored record seq ${row.seq} (run ${row.run_id}) is not JSON: ${reasonOf(error)}`,
      { cause: error },
    );
  }
  const parsed = runRecordSchema.safeParse(value);
  if (!parsed.success) {
    throw new EvidenceError(
      'corrupt-record',
      `stored record seq ${row.seq} (run ${row.run_id}) is not a valid run record: ${describeIssues(parsed.error)}`,
    );
  }
  return parsed.data;
}

function parseInput<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new EvidenceError('invalid-record', `${what}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** `timings.totalMs: expected number, received string; …` on one line. */
function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}

function describeId(value: unknown): string {
  const id = (value as { runId?: unknown } | null)?.runId;
  return typeof id === 'string' ? id : '(no runId)';
}

function isUniqueViolation(error: unknown, constraint: string): boolean {
  const e = error as { code?: unknown; constraint?: unknown };
  return e.code === '23505' && e.constraint === constraint;
}

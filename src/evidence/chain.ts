import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { sql, type ColumnType, type GeneratedAlways, type Kysely, type Transaction } from 'kysely';
import type { Database } from './database.js';
import { reasonOf } from './errors.js';
import {
  bundleHeaderSchema,
  bundleItemSchema,
  bundleRecordSchema,
  type BundleHeader,
} from './export.js';
import { ITEM_LINE_SQL } from './items-digest.js';
import {
  addItemsOutcome,
  emptyItemsReport,
  RecordItemsCheck,
  type ItemsReport,
} from './items-check.js';
import { reviewRecordSchema } from './reviews.js';
import { selftestRecordSchema } from './selftests.js';
import type { RunItem } from './run-record.js';
import { computeRecordHash, GENESIS_HASH, runItemOf } from './runs.js';

// Tamper evidence. Each run_results row carries record_hash = sha256(prev_hash +
// '\n' + record) and the previous row's record_hash as its prev_hash. Walking the
// rows in seq order and recomputing every hash finds any change to a stored
// record, a removed row, or a broken link; the first problem is named by seq and
// run id. An attacker who rewrites every later hash too is caught only against a
// head hash kept elsewhere: reports and exports carry it for that reason.

/** What is wrong with a record. */
export type ChainProblem =
  /** The record text no longer hashes to its record_hash: the record was changed. */
  | 'record-altered'
  /** record_hash was changed: the text still hashes to what the next record links to. */
  | 'hash-altered'
  /** prev_hash does not match the record before it (no record is missing). */
  | 'link-broken'
  /** Records are missing: prev_hash does not match, and seq skips the missing ones. */
  | 'gap'
  /** The first record does not link to its anchor (genesis, the last purge, or the bundle header). */
  | 'anchor-mismatch'
  /** The record text is not a JSON run record, though its hash matches. */
  | 'record-unreadable'
  /** A column copied from the record for queries (drill, verdict, times, sizes) does not match the record. */
  | 'column-mismatch'
  /** The purge log does not link up: a purge is missing or was changed. */
  | 'purge-log-broken'
  /** A bundle ends before the last record its header promises. */
  | 'truncated'
  /** A bundle line is not what the format says. */
  | 'bundle-malformed';

/** The first problem found, naming the record. */
export interface ChainBreak {
  problem: ChainProblem;
  /** The broken record's seq (null when the problem is not one record's, e.g. a bad bundle header). */
  seq: number | null;
  runId: string | null;
  /** The field at fault: record, record_hash, prev_hash, seq, or a column name. */
  field: string | null;
  expected: string | null;
  actual: string | null;
  /** Line of the bundle, for bundles. */
  line: number | null;
  /** One line a person can act on. */
  message: string;
}

/** Where verification starts: the genesis hash, a purge's anchor, or a bundle's header. */
export interface ChainAnchor {
  kind: 'genesis' | 'purge' | 'bundle';
  /** The prev_hash the first record must carry. */
  hash: string;
  /** The seq of the record that hash belongs to (the last purged or the last one before the bundle); null at genesis. */
  seq: number | null;
}

/** A purge as recorded in the purge log: where the chain was cut. */
export interface PurgeEntry {
  id: number;
  purgedAt: string;
  /** Evidence of runs started before this was asked to go. */
  cutoff: string;
  firstSeq: number;
  lastSeq: number;
  records: number;
  items: number;
  /** prev_hash of the first purged record. */
  fromHash: string;
  /** record_hash of the last purged record: the first kept record links to it. */
  anchorHash: string;
  host: string;
  version: string;
}

/** The outcome of a verification. */
export interface ChainReport {
  intact: boolean;
  source: 'database' | 'bundle';
  /** Records verified intact (all of them when intact; those before the break otherwise). */
  records: number;
  firstSeq: number | null;
  lastSeq: number | null;
  anchor: ChainAnchor;
  /** The last record verified intact: keep its hash somewhere else to detect a wholesale rewrite later. */
  head: { seq: number; recordHash: string } | null;
  /** Every purge, oldest first: where the chain was cut and why verification starts where it does. */
  purges: PurgeEntry[];
  /** Seq numbers never used (an insert rolled back): harmless while the links hold. */
  unusedSeqs: number;
  break: ChainBreak | null;
  /**
   * Each run's items recomputed against its record's itemsDigest (run_items, or a bundle's
   * item lines); null when not checked (a bundle exported without `--items`).
   */
  items: ItemsReport | null;
}

/** A record as the walker sees it, from a row or a bundle line. */
export interface ChainEntry {
  seq: number;
  /** A run's result, a review (sign-off) of a run, or a selftest; runs when absent. */
  kind?: ChainRecordKind;
  /** The run's id (for a review, the reviewed run's; for a selftest, its own). */
  runId: string;
  prevHash: string;
  recordHash: string;
  record: string;
  /** The denormalised columns, for database rows. */
  columns?: StoredColumns;
  /** The denormalised columns of a review row. */
  reviewColumns?: StoredReviewColumns;
  /** The denormalised columns of a selftest row. */
  selftestColumns?: StoredSelftestColumns;
  line?: number;
}

/** What a chain record is: a run's result (run_results), a review of a run (run_reviews) or a selftest (selftests). */
export type ChainRecordKind = 'run' | 'review' | 'selftest';

/** selftests columns that copy a field of the record. */
export interface StoredSelftestColumns {
  drill: string;
  verdict: string;
  started_at: Date;
  undetected: number;
}

/** run_reviews columns that copy a field of the record. */
export interface StoredReviewColumns {
  reviewed_at: Date;
  reviewer: string;
  decision: string;
  note: string;
  ticket: string | null;
}

/** run_results columns that copy a field of the record. */
export interface StoredColumns {
  drill: string;
  verdict: string;
  started_at: Date;
  finished_at: Date;
  set_path: string | null;
  files: number;
  bytes: string | number;
  checks_failed: number;
  restore_ms: number;
  verify_ms: number;
  total_ms: number;
}

/**
 * Checks records one at a time, in seq order, holding one record back so that
 * a hash mismatch can tell a changed record text from a changed record_hash
 * (the next record's prev_hash says which the chain expected). Memory is flat.
 */
export class ChainWalker {
  private pending: ChainEntry | undefined;
  private lastGood: ChainEntry | undefined;
  private verified = 0;
  private first: number | null = null;
  private unused = 0;
  private broken: ChainBreak | null = null;

  constructor(readonly anchor: ChainAnchor) {}

  /** Adds the next record; returns the first break once one is found (and keeps returning it). */
  push(entry: ChainEntry): ChainBreak | null {
    if (this.broken) return this.broken;
    if (this.pending === undefined) {
      this.first = entry.seq;
      if (entry.prevHash !== this.anchor.hash) return this.fail(anchorBreak(entry, this.anchor));
    } else {
      const contentBreak = checkContent(this.pending, entry.prevHash);
      if (contentBreak) return this.fail(contentBreak);
      this.lastGood = this.pending;
      this.verified++;
      const previous = this.pending;
      if (entry.seq <= previous.seq) {
        return this.fail(
          breakOf(
            entry,
            'bundle-malformed',
            'seq',
            `after ${previous.seq}`,
            String(entry.seq),
            `seq ${entry.seq} (${labelOf(entry)}) comes after seq ${previous.seq}: records are out of order`,
          ),
        );
      }
      if (entry.prevHash !== previous.recordHash) {
        const missing = entry.seq - previous.seq - 1;
        if (missing > 0) {
          const which =
            missing === 1
              ? `seq ${previous.seq + 1} is missing`
              : `seq ${previous.seq + 1} to ${entry.seq - 1} are missing`;
          return this.fail(
            breakOf(
              entry,
              'gap',
              'seq',
              previous.recordHash,
              entry.prevHash,
              `gap before seq ${entry.seq} (${labelOf(entry)}): ${which}; its prev_hash does not match the record_hash of seq ${previous.seq}`,
            ),
          );
        }
        return this.fail(
          breakOf(
            entry,
            'link-broken',
            'prev_hash',
            previous.recordHash,
            entry.prevHash,
            `seq ${entry.seq} (${labelOf(entry)}): prev_hash does not match the record_hash of seq ${previous.seq}: the link was changed`,
          ),
        );
      }
      this.unused += entry.seq - previous.seq - 1;
    }
    this.pending = entry;
    return null;
  }

  /** Checks the record held back; call once after the last `push`. */
  finish(): ChainBreak | null {
    if (this.broken) return this.broken;
    if (this.pending) {
      const contentBreak = checkContent(this.pending, undefined);
      if (contentBreak) return this.fail(contentBreak);
      this.lastGood = this.pending;
      this.verified++;
      this.pending = undefined;
    }
    return null;
  }

  /** Records a problem found outside the walk (a malformed line, a truncated bundle). */
  fail(problem: ChainBreak): ChainBreak {
    this.broken ??= problem;
    return this.broken;
  }

  /** The report so far (call after `finish`). */
  report(source: ChainReport['source'], purges: PurgeEntry[]): ChainReport {
    return {
      intact: this.broken === null,
      source,
      records: this.verified,
      firstSeq: this.first,
      lastSeq: this.lastGood?.seq ?? null,
      anchor: this.anchor,
      head: this.lastGood ? { seq: this.lastGood.seq, recordHash: this.lastGood.recordHash } : null,
      purges,
      unusedSeqs: this.unused,
      break: this.broken,
      items: null,
    };
  }

  /** The last record verified intact, if any. */
  get last(): ChainEntry | undefined {
    return this.lastGood;
  }
}

/** How a message names a record: `run ID`, or `review of run ID`. */
function labelOf(entry: ChainEntry): string {
  if (entry.kind === 'selftest') return `selftest ${entry.runId}`;
  return entry.kind === 'review' ? `review of run ${entry.runId}` : `run ${entry.runId}`;
}

function breakOf(
  entry: ChainEntry,
  problem: ChainProblem,
  field: string | null,
  expected: string | null,
  actual: string | null,
  message: string,
): ChainBreak {
  return {
    problem,
    seq: entry.seq,
    runId: entry.runId,
    field,
    expected,
    actual,
    line: entry.line ?? null,
    message: entry.line === undefined ? message : `line ${entry.line}: ${message}`,
  };
}

function anchorBreak(entry: ChainEntry, anchor: ChainAnchor): ChainBreak {
  const from =
    anchor.kind === 'genesis'
      ? entry.seq > 1
        ? `the genesis hash, and no purge is recorded: records before seq ${entry.seq} are missing`
        : 'the genesis hash (64 zeros)'
      : anchor.kind === 'purge'
        ? `the anchor left by the last purge (record_hash of seq ${anchor.seq}): records after the purge are missing or the link was changed`
        : `the anchor in the bundle header${anchor.seq === null ? '' : ` (record_hash of seq ${anchor.seq})`}`;
  return breakOf(
    entry,
    anchor.kind === 'genesis' && entry.seq > 1 ? 'gap' : 'anchor-mismatch',
    'prev_hash',
    anchor.hash,
    entry.prevHash,
    `seq ${entry.seq} (${labelOf(entry)}): prev_hash does not match ${from}`,
  );
}

/** The record's own hash, its readability, and its copied columns. */
function checkContent(entry: ChainEntry, nextPrevHash: string | undefined): ChainBreak | null {
  const computed = computeRecordHash(entry.prevHash, entry.record);
  if (computed !== entry.recordHash) {
    if (nextPrevHash !== undefined && nextPrevHash === computed) {
      return breakOf(
        entry,
        'hash-altered',
        'record_hash',
        computed,
        entry.recordHash,
        `seq ${entry.seq} (${labelOf(entry)}): record_hash was changed (the record text still matches the next record's link)`,
      );
    }
    return breakOf(
      entry,
      'record-altered',
      'record',
      entry.recordHash,
      computed,
      `seq ${entry.seq} (${labelOf(entry)}): the record text was altered: it no longer hashes to its record_hash`,
    );
  }
  let parsed: Record<string, unknown>;
  try {
    const value: unknown = JSON.parse(entry.record);
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw new Error('not a JSON object');
    parsed = value as Record<string, unknown>;
  } catch (error) {
    return breakOf(
      entry,
      'record-unreadable',
      'record',
      'a JSON run record',
      reasonOf(error),
      `seq ${entry.seq} (${labelOf(entry)}): the record is not a JSON run record: ${reasonOf(error)}`,
    );
  }
  const recordKind: ChainRecordKind =
    parsed.kind === 'review' ? 'review' : parsed.kind === 'selftest' ? 'selftest' : 'run';
  if (entry.kind !== undefined && entry.kind !== recordKind) {
    return breakOf(
      entry,
      'column-mismatch',
      'kind',
      entry.kind,
      recordKind,
      `seq ${entry.seq} (${labelOf(entry)}): stored as a ${KIND_NAMES[entry.kind]} but the record is a ${KIND_NAMES[recordKind]}`,
    );
  }
  if (recordKind === 'review') {
    const review = reviewRecordSchema.safeParse(parsed);
    if (!review.success)
      return breakOf(
        entry,
        'record-unreadable',
        'record',
        'a review record',
        review.error.issues[0]?.message ?? 'invalid',
        `seq ${entry.seq} (${labelOf(entry)}): the record is not a review record: ${review.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
      );
  }
  if (recordKind === 'selftest') {
    const selftest = selftestRecordSchema.safeParse(parsed);
    if (!selftest.success)
      return breakOf(
        entry,
        'record-unreadable',
        'record',
        'a selftest record',
        selftest.error.issues[0]?.message ?? 'invalid',
        `seq ${entry.seq} (${labelOf(entry)}): the record is not a selftest record: ${selftest.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
      );
  }
  if (parsed.runId !== entry.runId) {
    return breakOf(
      entry,
      'column-mismatch',
      'run_id',
      String(parsed.runId),
      entry.runId,
      `seq ${entry.seq}: run_id '${entry.runId}' does not match the record's runId '${String(parsed.runId)}'`,
    );
  }
  if (entry.columns) return checkColumns(entry, parsed, entry.columns);
  if (entry.reviewColumns) return checkReviewColumns(entry, parsed, entry.reviewColumns);
  if (entry.selftestColumns) return checkSelftestColumns(entry, parsed, entry.selftestColumns);
  return null;
}

/** How a message names each kind of record. */
const KIND_NAMES: Readonly<Record<ChainRecordKind, string>> = {
  run: "run's result",
  review: 'review',
  selftest: 'selftest',
};

function checkSelftestColumns(
  entry: ChainEntry,
  record: Record<string, unknown>,
  columns: StoredSelftestColumns,
): ChainBreak | null {
  const damages = Array.isArray(record.damages) ? (record.damages as { detected?: unknown }[]) : [];
  const expected: [keyof StoredSelftestColumns, unknown, unknown][] = [
    ['drill', record.drill, columns.drill],
    ['verdict', record.verdict, columns.verdict],
    ['started_at', time(record.startedAt), time(columns.started_at)],
    [
      'undetected',
      damages.filter((damage) => damage.detected !== true).length,
      Number(columns.undetected),
    ],
  ];
  return firstMismatch(entry, expected);
}

/** The first copied column that differs from its record: [column, from the record, stored]. */
function firstMismatch(
  entry: ChainEntry,
  expected: [string, unknown, unknown][],
): ChainBreak | null {
  for (const [column, fromRecord, stored] of expected) {
    if (!sameValue(fromRecord, stored)) {
      return breakOf(
        entry,
        'column-mismatch',
        column,
        show(fromRecord),
        show(stored),
        `seq ${entry.seq} (${labelOf(entry)}): column ${column} holds ${show(stored)} but the record says ${show(fromRecord)}`,
      );
    }
  }
  return null;
}

function checkReviewColumns(
  entry: ChainEntry,
  record: Record<string, unknown>,
  columns: StoredReviewColumns,
): ChainBreak | null {
  const expected: [keyof StoredReviewColumns, unknown, unknown][] = [
    ['reviewed_at', time(record.reviewedAt), time(columns.reviewed_at)],
    ['reviewer', record.by, columns.reviewer],
    ['decision', record.decision, columns.decision],
    ['note', record.note, columns.note],
    ['ticket', record.ticket ?? null, columns.ticket],
  ];
  return firstMismatch(entry, expected);
}

function checkColumns(
  entry: ChainEntry,
  record: Record<string, unknown>,
  columns: StoredColumns,
): ChainBreak | null {
  const get = (path: string): unknown =>
    path
      .split('.')
      .reduce<unknown>(
        (value, key) =>
          value === null || typeof value !== 'object'
            ? undefined
            : (value as Record<string, unknown>)[key],
        record,
      );
  const checks = Array.isArray(record.checks) ? (record.checks as { verdict?: unknown }[]) : [];
  const expected: [keyof StoredColumns, unknown, unknown][] = [
    ['drill', get('drill'), columns.drill],
    ['verdict', get('verdict'), columns.verdict],
    ['started_at', time(get('startedAt')), time(columns.started_at)],
    ['finished_at', time(get('finishedAt')), time(columns.finished_at)],
    ['set_path', get('set.path') ?? null, columns.set_path],
    ['files', get('restored.files'), columns.files],
    ['bytes', get('restored.bytes'), Number(columns.bytes)],
    [
      'checks_failed',
      checks.filter((check) => check?.verdict === 'failed').length,
      columns.checks_failed,
    ],
    ['restore_ms', get('timings.restoreMs'), columns.restore_ms],
    ['verify_ms', get('timings.verifyMs'), columns.verify_ms],
    ['total_ms', get('timings.totalMs'), columns.total_ms],
  ];
  return firstMismatch(entry, expected);
}

/** Milliseconds since the epoch (timestamptz keeps microseconds, JavaScript milliseconds). */
function time(value: unknown): number | null {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'string') {
    const parsed = Date.parse(value);
    return Number.isNaN(parsed) ? null : parsed;
  }
  return null;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number')
    return a === b || Math.abs(a - b) < 1e-6 * Math.max(1, Math.abs(a));
  return a === b;
}

function show(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' && Number.isFinite(value) && value > 1e11)
    return `${new Date(value).toISOString()}`;
  return JSON.stringify(value) ?? 'nothing';
}

type Db = Kysely<Database> | Transaction<Database>;

/** int8 columns come back as text from node-postgres. */
type Int8 = ColumnType<string, number | string, never>;

/** The purge log's table, added by migration 003 (append-only, like the evidence). */
export interface EvidencePurgesTable {
  id: GeneratedAlways<string>;
  purged_at: ColumnType<Date, Date, never>;
  cutoff: ColumnType<Date, Date, never>;
  first_seq: Int8;
  last_seq: Int8;
  records: Int8;
  items: Int8;
  from_hash: string;
  anchor_hash: string;
  host: string;
  version: string;
}

/** The database with the purge log, for queries that read it. */
export function withPurgeLog(db: Db): Kysely<Database & { evidence_purges: EvidencePurgesTable }> {
  return (db as Kysely<Database>).withTables<{ evidence_purges: EvidencePurgesTable }>();
}

/** Every purge, oldest first. */
export async function listPurges(db: Db): Promise<PurgeEntry[]> {
  const rows = await withPurgeLog(db)
    .selectFrom('evidence_purges')
    .selectAll()
    .orderBy('id')
    .execute();
  return rows.map((row) => ({
    id: Number(row.id),
    purgedAt: row.purged_at.toISOString(),
    cutoff: row.cutoff.toISOString(),
    firstSeq: Number(row.first_seq),
    lastSeq: Number(row.last_seq),
    records: Number(row.records),
    items: Number(row.items),
    fromHash: row.from_hash,
    anchorHash: row.anchor_hash,
    host: row.host,
    version: row.version,
  }));
}

/**
 * The anchor the remaining chain starts from, after checking that the purges
 * link up: each purge starts where the one before ended (from genesis).
 */
export function anchorFromPurges(purges: readonly PurgeEntry[]): {
  anchor: ChainAnchor;
  problem: ChainBreak | null;
} {
  let anchor: ChainAnchor = { kind: 'genesis', hash: GENESIS_HASH, seq: null };
  for (const purge of purges) {
    const expectedFrom = anchor.hash;
    if (purge.fromHash !== expectedFrom || (anchor.seq !== null && purge.firstSeq <= anchor.seq)) {
      const after =
        anchor.kind === 'genesis'
          ? 'the genesis hash'
          : `the anchor of the purge before it (seq ${anchor.seq})`;
      return {
        anchor,
        problem: {
          problem: 'purge-log-broken',
          seq: purge.firstSeq,
          runId: null,
          field: 'from_hash',
          expected: expectedFrom,
          actual: purge.fromHash,
          line: null,
          message: `purge ${purge.id} (seq ${purge.firstSeq} to ${purge.lastSeq}, ${purge.purgedAt}) does not start from ${after}: a purge record is missing or was changed`,
        },
      };
    }
    anchor = { kind: 'purge', hash: purge.anchorHash, seq: purge.lastSeq };
  }
  return { anchor, problem: null };
}

/** Rows per query while walking the chain: memory stays flat whatever its length. */
export const VERIFY_BATCH_SIZE = 1000;

/** The report with the items' outcome: intact only when the chain and every run's items are. */
function withItems(report: ChainReport, items: ItemsReport | null): ChainReport {
  return {
    ...report,
    intact: report.intact && (items === null || items.differing === 0),
    items,
  };
}

/**
 * Recomputes the evidence chain in the database and names the first broken
 * record: a changed record text or hash, a broken link, missing records, or a
 * copied column that no longer matches its record. Starts from the genesis
 * hash, or from the anchor of the last purge. With `items`, also recomputes
 * each run's itemsDigest from run_items and names every run whose items differ
 * (in one repeatable-read transaction, so runs and items are read at one moment).
 */
export async function verifyChain(
  db: Db,
  options: { batchSize?: number; items?: boolean } = {},
): Promise<ChainReport> {
  if (options.items && !db.isTransaction)
    return db
      .transaction()
      .setIsolationLevel('repeatable read')
      .execute((trx) => verifyChain(trx, options));
  const batchSize = options.batchSize ?? VERIFY_BATCH_SIZE;
  const items = options.items ? emptyItemsReport() : null;
  const purges = await listPurges(db);
  const { anchor, problem } = anchorFromPurges(purges);
  const walker = new ChainWalker(anchor);
  if (problem) {
    walker.fail(problem);
    return withItems(walker.report('database', purges), items);
  }
  let after = 0;
  for (;;) {
    const { rows } =
      await sql<ChainRow>`${chainRowsAfter(after)} limit ${sql.lit(batchSize)}`.execute(db);
    for (const row of rows) {
      const found = walker.push(chainEntryOf(row));
      if (found) return withItems(walker.report('database', purges), items);
      if (items && row.kind === 'run') {
        const check = new RecordItemsCheck(Number(row.seq), row.run_id, row.record);
        await streamRunItems(db, row.run_id, batchSize, (item) => check.add(item));
        const outcome = await check.finish(async () => {
          const all: RunItem[] = [];
          await streamRunItems(db, row.run_id, batchSize, (item) => {
            all.push(item);
          });
          return all;
        }, 'run_items');
        addItemsOutcome(items, outcome, check.count);
      }
    }
    if (rows.length < batchSize) break;
    after = Number(rows[rows.length - 1]?.seq ?? after);
  }
  walker.finish();
  return withItems(walker.report('database', purges), items);
}

/** One record of the chain as the walk reads it: a run's result or a review, with its copied columns. */
interface ChainRow
  extends
    Partial<StoredColumns>,
    Partial<StoredReviewColumns>,
    Partial<Pick<StoredSelftestColumns, 'undetected'>> {
  seq: string;
  kind: ChainRecordKind;
  run_id: string;
  record: string;
  prev_hash: string;
  record_hash: string;
}

/** Every record after `seq`, runs and reviews in one seq order (append a limit). */
function chainRowsAfter(seq: number) {
  return sql`select seq, 'run' as kind, run_id, drill, verdict, started_at, finished_at, set_path, files,
      bytes, checks_failed, restore_ms, verify_ms, total_ms,
      null::timestamptz as reviewed_at, null as reviewer, null as decision, null as note, null as ticket,
      null::integer as undetected, record, prev_hash, record_hash
    from run_results where seq > ${String(seq)}
    union all
    select seq, 'review', run_id, null, null, null, null, null, null, null, null, null, null, null,
      reviewed_at, reviewer, decision, note, ticket, null, record, prev_hash, record_hash
    from run_reviews where seq > ${String(seq)}
    union all
    select seq, 'selftest', run_id, drill, verdict, started_at, null, null, null, null, null, null, null, null,
      null, null, null, null, null, undetected, record, prev_hash, record_hash
    from selftests where seq > ${String(seq)}
    order by seq`;
}

function chainEntryOf(row: ChainRow): ChainEntry {
  const entry: ChainEntry = {
    seq: Number(row.seq),
    kind: row.kind,
    runId: row.run_id,
    prevHash: row.prev_hash,
    recordHash: row.record_hash,
    record: row.record,
  };
  if (row.kind === 'review') entry.reviewColumns = row as StoredReviewColumns;
  else if (row.kind === 'selftest') entry.selftestColumns = row as StoredSelftestColumns;
  else entry.columns = row as StoredColumns;
  return entry;
}

/**
 * A run's items in the digest's order (so a reader recomputes itemsDigest as they
 * stream), through a cursor in the caller's transaction: a run may hold millions of
 * items, and paths need not be unique, so neither offsets nor keys page them well.
 * Returns how many there were; on an error the transaction's end closes the cursor.
 */
export async function streamRunItems(
  trx: Db,
  runId: string,
  batchSize: number,
  onItem: (item: RunItem) => void | Promise<void>,
): Promise<number> {
  await sql`declare restore_drill_run_items no scroll cursor for
    select path, size, sha256, link_target from run_items where run_id = ${runId} order by ${sql.raw(ITEM_LINE_SQL)}`.execute(
    trx,
  );
  let count = 0;
  for (;;) {
    const { rows } = await sql<{
      path: string;
      size: string;
      sha256: string | null;
      link_target: string | null;
    }>`fetch forward ${sql.lit(batchSize)} from restore_drill_run_items`.execute(trx);
    for (const row of rows) await onItem(runItemOf(row));
    count += rows.length;
    if (rows.length < batchSize) break;
  }
  await sql`close restore_drill_run_items`.execute(trx);
  return count;
}

/**
 * Verifies an exported bundle offline, without a database: the header, then
 * every record line from the header's anchor, then that nothing is missing at
 * the end. Names the first broken record and its line.
 */
export async function verifyBundle(path: string): Promise<ChainReport> {
  const items: BundleItems = { report: null, check: undefined };
  const report = await walkBundle(path, items);
  return withItems(report, items.report);
}

/** The items of a bundle exported with `--items`: each record's item lines, checked as they stream. */
interface BundleItems {
  report: ItemsReport | null;
  check: RecordItemsCheck | undefined;
}

/** Closes the check of the record whose item lines just ended. */
async function finishBundleItems(path: string, items: BundleItems): Promise<void> {
  const check = items.check;
  if (!check || !items.report) return;
  items.check = undefined;
  const outcome = await check.finish(() => readBundleItems(path, check.seq), 'bundle');
  addItemsOutcome(items.report, outcome, check.count);
}

/** One record's item lines, read again (only when they were not in the digest's order). */
async function readBundleItems(
  path: string,
  seq: number,
): Promise<{ path: string; size: number; sha256: string | null }[]> {
  const found: { path: string; size: number; sha256: string | null }[] = [];
  const lines = createInterface({
    input: createReadStream(path, { encoding: 'utf8' }),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  try {
    for await (const line of lines) {
      if (!line.includes('"type":"item"')) continue;
      const item = bundleItemSchema.safeParse(JSON.parse(line));
      if (item.success && item.data.seq === seq) found.push(item.data);
    }
  } finally {
    lines.close();
  }
  return found;
}

async function walkBundle(path: string, items: BundleItems): Promise<ChainReport> {
  const lines = createInterface({
    input: createReadStream(path, { encoding: 'utf8' }),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let header: BundleHeader | undefined;
  let walker: ChainWalker | undefined;
  let lineNumber = 0;
  let currentSeq: number | null = null;
  const malformed = (
    message: string,
    seq: number | null = null,
    field: string | null = null,
  ): ChainBreak => ({
    problem: 'bundle-malformed',
    seq,
    runId: null,
    field,
    expected: null,
    actual: null,
    line: lineNumber,
    message: `line ${lineNumber}: ${message}`,
  });
  const headerless = (problem: ChainBreak): ChainReport => {
    const stub = new ChainWalker({ kind: 'bundle', hash: GENESIS_HASH, seq: null });
    stub.fail(problem);
    return stub.report('bundle', []);
  };
  try {
    for await (const line of lines) {
      lineNumber++;
      if (line.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (error) {
        const where = currentSeq === null ? '' : ` (after seq ${currentSeq})`;
        const problem = malformed(
          `not valid JSON${where}: ${reasonOf(error)}`,
          currentSeq === null ? null : currentSeq + 1,
        );
        if (!walker) return headerless(problem);
        walker.fail(problem);
        return walker.report('bundle', header?.purges ?? []);
      }
      if (!header) {
        const parsed = bundleHeaderSchema.safeParse(value);
        if (!parsed.success)
          return headerless(
            malformed(
              `expected a restore-drill evidence bundle header: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ')}`,
            ),
          );
        header = parsed.data;
        if (header.items) items.report = emptyItemsReport();
        walker = new ChainWalker({
          kind: 'bundle',
          hash: header.anchor.prevHash,
          seq: header.anchor.seq,
        });
        continue;
      }
      const active = walker as ChainWalker;
      const type = (value as { type?: unknown } | null)?.type;
      if (type === 'item') {
        const item = bundleItemSchema.safeParse(value);
        if (!item.success || item.data.seq !== currentSeq) {
          active.fail(
            malformed(
              `expected an item of the record above (seq ${currentSeq ?? 'none'})`,
              currentSeq,
            ),
          );
          return active.report('bundle', header.purges);
        }
        items.check?.add(item.data);
        continue;
      }
      const record = bundleRecordSchema.safeParse(value);
      if (!record.success) {
        active.fail(
          malformed(
            `expected a record line: ${record.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ')}`,
            currentSeq === null ? null : currentSeq + 1,
          ),
        );
        return active.report('bundle', header.purges);
      }
      const entry = record.data;
      await finishBundleItems(path, items);
      if (items.report && (entry.kind === undefined || entry.kind === 'run'))
        items.check = new RecordItemsCheck(entry.seq, entry.runId, entry.record, lineNumber);
      if (currentSeq === null && entry.seq !== header.firstSeq) {
        active.fail({
          ...malformed(
            `the first record is seq ${entry.seq} but the header says ${header.firstSeq}: records at the start are missing`,
            entry.seq,
            'seq',
          ),
          problem: 'gap',
          runId: entry.runId,
        });
        return active.report('bundle', header.purges);
      }
      currentSeq = entry.seq;
      if (
        active.push({
          seq: entry.seq,
          ...(entry.kind === undefined ? {} : { kind: entry.kind }),
          runId: entry.runId,
          prevHash: entry.prevHash,
          recordHash: entry.recordHash,
          record: entry.record,
          line: lineNumber,
        })
      ) {
        return active.report('bundle', header.purges);
      }
    }
  } finally {
    lines.close();
  }
  if (!header || !walker) {
    return headerless({
      problem: 'bundle-malformed',
      seq: null,
      runId: null,
      field: null,
      expected: null,
      actual: null,
      line: null,
      message: 'the bundle is empty: expected a header line',
    });
  }
  await finishBundleItems(path, items);
  if (walker.finish()) return walker.report('bundle', header.purges);
  const report = walker.report('bundle', header.purges);
  const lastSeq = walker.last?.seq ?? null;
  if (header.records === 0 && lastSeq === null) return report;
  if (
    lastSeq !== header.lastSeq ||
    report.head?.recordHash !== header.head?.recordHash ||
    report.records !== header.records
  ) {
    walker.fail({
      problem: 'truncated',
      seq: lastSeq,
      runId: walker.last?.runId ?? null,
      field: 'seq',
      expected: String(header.lastSeq),
      actual: lastSeq === null ? 'no record' : String(lastSeq),
      line: null,
      message:
        lastSeq === header.lastSeq
          ? `the bundle holds ${report.records} records ending at seq ${lastSeq}, but its header says ${header.records} ending with record_hash ${header.head?.recordHash}`
          : `the bundle ends at ${lastSeq === null ? 'no record' : `seq ${lastSeq}`} but its header says the last record is seq ${header.lastSeq}: records at the end are missing`,
    });
  }
  return walker.report('bundle', header.purges);
}

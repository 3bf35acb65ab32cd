import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type { PoolConfig } from 'pg';
import pg from './node-postgres.js';
import type { z } from 'zod';
import { canonicalJson } from './canonical-json.js';
import { listPurges, type ChainRecordKind } from './chain.js';
import type { Database } from './database.js';
import { reasonOf } from './errors.js';
import { migrateToLatest, migratedSeedVariant } from './migrations/index.js';
import { openPglite } from './pglite-seed.js';
import {
  bundleHeaderSchema,
  bundleItemSchema,
  bundleRecordSchema,
  type BundleHeader,
  type BundleRecord,
} from './export.js';
import { reviewRecordSchema } from './reviews.js';
import { selftestRecordSchema } from './selftests.js';
import { runRecordSchema } from './run-record.js';
import { insertItemBatch, runResultRow, type ItemColumns } from './runs.js';

// Restoring a backup's bundle into a fresh evidence database, and comparing a backup
// with the live chain. Both stream the bundle: memory stays flat whatever its size.

/** Bundle lines, parsed: the header first, then records and their items. */
async function* bundleLines(
  file: string,
): AsyncGenerator<
  | { type: 'header'; value: BundleHeader }
  | { type: 'record'; value: BundleRecord }
  | { type: 'item'; value: z.infer<typeof bundleItemSchema> }
> {
  const lines = createInterface({
    input: createReadStream(file, { encoding: 'utf8' }),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let number = 0;
  try {
    for await (const line of lines) {
      number++;
      if (line.trim() === '') continue;
      const value: unknown = JSON.parse(line);
      const where = `${file} line ${number}`;
      const type = (value as { type?: unknown } | null)?.type;
      if (type === 'header') yield { type, value: parseLine(bundleHeaderSchema, value, where) };
      else if (type === 'item') yield { type, value: parseLine(bundleItemSchema, value, where) };
      else yield { type: 'record', value: parseLine(bundleRecordSchema, value, where) };
    }
  } finally {
    lines.close();
  }
}

function parseLine<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new Error(
      `${where}: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ')}`,
    );
  return parsed.data;
}

/** What a restored bundle holds. */
export interface RestoredCounts {
  runs: number;
  reviews: number;
  selftests: number;
  items: number;
}

/** Items per INSERT while restoring. */
const RESTORE_ITEM_BATCH = 5_000;

/**
 * Loads a bundle into an empty, migrated evidence database: the purge log, each run's
 * start (as far as its record tells it) and result with its stored seq and hashes, each
 * review, and the items. The database's own constraints apply (unique links, checks),
 * so a bundle that does not fit the schema fails here, naming the record.
 */
export async function restoreBundle(db: Kysely<Database>, file: string): Promise<RestoredCounts> {
  const counts: RestoredCounts = { runs: 0, reviews: 0, selftests: 0, items: 0 };
  await db.transaction().execute(async (trx) => {
    let items: (ItemColumns & { runId: string }) | null = null;
    const flush = async (): Promise<void> => {
      if (items === null || items.paths.length === 0) return;
      await insertItemBatch(trx, items.runId, items);
      counts.items += items.paths.length;
      items = { ...items, paths: [], sizes: [], hashes: [], targets: [] };
    };
    let runIdOfSeq = new Map<number, string>();
    for await (const line of bundleLines(file)) {
      if (line.type === 'header') {
        for (const purge of line.value.purges) {
          await sql`insert into evidence_purges (purged_at, cutoff, first_seq, last_seq, records, items, from_hash, anchor_hash, host, version)
            values (${purge.purgedAt}, ${purge.cutoff}, ${String(purge.firstSeq)}, ${String(purge.lastSeq)}, ${String(purge.records)},
              ${String(purge.items)}, ${purge.fromHash}, ${purge.anchorHash}, ${purge.host}, ${purge.version})`.execute(
            trx,
          );
        }
        continue;
      }
      if (line.type === 'item') {
        const runId = runIdOfSeq.get(line.value.seq);
        if (runId === undefined || items === null || items.runId !== runId)
          throw new Error(`item ${line.value.path} of seq ${line.value.seq} follows no run record`);
        items.paths.push(line.value.path);
        items.sizes.push(line.value.size);
        items.hashes.push(line.value.sha256);
        items.targets.push(line.value.linkTarget ?? null);
        if (items.paths.length >= RESTORE_ITEM_BATCH) await flush();
        continue;
      }
      await flush();
      const entry = line.value;
      try {
        if (entry.kind === 'selftest') {
          const selftest = selftestRecordSchema.parse(JSON.parse(entry.record));
          await sql`insert into selftests (seq, run_id, drill, verdict, started_at, undetected, record, prev_hash, record_hash)
            values (${String(entry.seq)}, ${entry.runId}, ${selftest.drill}, ${selftest.verdict}, ${selftest.startedAt},
              ${selftest.damages.filter((damage) => !damage.detected).length}, ${entry.record}, ${entry.prevHash},
              ${entry.recordHash})`.execute(trx);
          counts.selftests++;
        } else if (entry.kind === 'review') {
          const review = reviewRecordSchema.parse(JSON.parse(entry.record));
          await sql`insert into run_reviews (seq, run_id, reviewed_at, reviewer, decision, note, ticket, record, prev_hash, record_hash)
            values (${String(entry.seq)}, ${entry.runId}, ${review.reviewedAt}, ${review.by}, ${review.decision}, ${review.note},
              ${review.ticket}, ${entry.record}, ${entry.prevHash}, ${entry.recordHash})`.execute(
            trx,
          );
          counts.reviews++;
        } else {
          const record = runRecordSchema.parse(JSON.parse(entry.record));
          await trx
            .insertInto('run_starts')
            .values({
              run_id: record.runId,
              drill: record.drill,
              trigger: record.trigger,
              scheduled_for: record.scheduledFor,
              replay_of: record.replayOf,
              started_at: record.startedAt,
              host: record.host,
              // The record does not keep the process id: the restored start says 0.
              pid: 0,
              version: record.version,
              config_hash: record.configHash,
              scratch_dir: record.scratchDir,
            })
            .execute();
          // The columns come from the record as a live append makes them; seq and hashes are the bundle's.
          const row = runResultRow(record, canonicalJson(record), entry.prevHash);
          await sql`insert into run_results (seq, run_id, drill, verdict, started_at, finished_at, set_path, files, bytes,
              checks_failed, restore_ms, verify_ms, total_ms, record, prev_hash, record_hash)
            overriding system value
            values (${String(entry.seq)}, ${row.run_id}, ${row.drill}, ${row.verdict}, ${row.started_at}, ${row.finished_at},
              ${row.set_path}, ${row.files}, ${String(row.bytes)}, ${row.checks_failed}, ${row.restore_ms}, ${row.verify_ms},
              ${row.total_ms}, ${entry.record}, ${entry.prevHash}, ${entry.recordHash})`.execute(
            trx,
          );
          counts.runs++;
          runIdOfSeq = new Map([[entry.seq, entry.runId]]);
          items = { runId: entry.runId, paths: [], sizes: [], hashes: [], targets: [] };
        }
      } catch (error) {
        throw new Error(
          `seq ${entry.seq} (${labelOf(entry.kind, entry.runId)}) cannot be restored: ${reasonOf(error)}`,
          { cause: error },
        );
      }
    }
    await flush();
    // Later appends (none are made to a restored copy) would continue after the restored head.
    await sql`select setval(pg_get_serial_sequence('run_results', 'seq'), greatest(1, coalesce(
      (select max(seq) from (select seq from run_results union all select seq from run_reviews union all select seq from selftests) as chain), 1)))`.execute(
      trx,
    );
  });
  return counts;
}

/** How a message names a chain record: `run ID`, `review of run ID`, `selftest ID`. */
export function labelOf(kind: ChainRecordKind | undefined, runId: string): string {
  return kind === 'review'
    ? `review of run ${runId}`
    : kind === 'selftest'
      ? `selftest ${runId}`
      : `run ${runId}`;
}

/** A record of the backup that the live chain does not hold as it is. */
export interface LiveDisagreement {
  seq: number;
  runId: string;
  kind: ChainRecordKind;
  /** `missing`: the live chain has no record at this seq (and none was purged there); `differs`: another record_hash. */
  problem: 'missing' | 'differs';
  backupHash: string;
  liveHash: string | null;
}

/** How a backup stands against the live chain. */
export interface LiveComparison {
  /** Backup records compared with the live chain (those the live chain purged since are left out). */
  compared: number;
  /** Backup records the live chain has purged since the backup: nothing to compare them with. */
  purgedSince: number;
  disagreements: LiveDisagreement[];
  /** Every disagreement found (the list above is capped). */
  disagreementsTotal: number;
  backupHead: { seq: number; recordHash: string } | null;
  liveHead: { seq: number; recordHash: string } | null;
  /** Live records after the backup's head: how far the backup lags. */
  liveRecordsAfter: number;
  liveRuns: number;
}

/** Disagreements kept in full; the rest are counted. */
const MAX_DISAGREEMENTS = 100;
/** Records looked up in the live chain per query. */
const LIVE_BATCH = 1_000;

/**
 * Compares every record of a backup's bundle with the live chain by seq and record_hash,
 * in one repeatable-read snapshot of the live store. A backup may lag (the live chain
 * has records after its head), never disagree: a record the live chain holds with
 * another hash, or does not hold at all (and did not purge), is a disagreement naming it.
 */
export async function compareWithLive(
  live: Kysely<Database>,
  file: string,
): Promise<LiveComparison> {
  return live
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const purges = await listPurges(trx);
      const purgedThrough = purges.reduce((max, purge) => Math.max(max, purge.lastSeq), 0);
      const result: LiveComparison = {
        compared: 0,
        purgedSince: 0,
        disagreements: [],
        disagreementsTotal: 0,
        backupHead: null,
        liveHead: null,
        liveRecordsAfter: 0,
        liveRuns: 0,
      };
      let batch: BundleRecord[] = [];
      const check = async (): Promise<void> => {
        if (batch.length === 0) return;
        const seqs = batch.map((entry) => String(entry.seq));
        const { rows } = await sql<{ seq: string; record_hash: string }>`
          select seq, record_hash from run_results where seq = any(${seqs}::int8[])
          union all select seq, record_hash from run_reviews where seq = any(${seqs}::int8[])
          union all select seq, record_hash from selftests where seq = any(${seqs}::int8[])`.execute(
          trx,
        );
        const liveHashes = new Map(rows.map((row) => [Number(row.seq), row.record_hash]));
        for (const entry of batch) {
          const liveHash = liveHashes.get(entry.seq) ?? null;
          if (liveHash === entry.recordHash) continue;
          result.disagreementsTotal++;
          if (result.disagreements.length < MAX_DISAGREEMENTS)
            result.disagreements.push({
              seq: entry.seq,
              runId: entry.runId,
              kind: entry.kind ?? 'run',
              problem: liveHash === null ? 'missing' : 'differs',
              backupHash: entry.recordHash,
              liveHash,
            });
        }
        batch = [];
      };
      for await (const line of bundleLines(file)) {
        if (line.type !== 'record') continue;
        const entry = line.value;
        result.backupHead = { seq: entry.seq, recordHash: entry.recordHash };
        if (entry.seq <= purgedThrough) {
          result.purgedSince++;
          continue;
        }
        result.compared++;
        batch.push(entry);
        if (batch.length >= LIVE_BATCH) await check();
      }
      await check();
      const { rows } = await sql<{
        seq: string | null;
        record_hash: string | null;
        after: string;
        runs: string;
      }>`
        select head.seq, head.record_hash,
          (select count(*) from (select seq from run_results union all select seq from run_reviews
            union all select seq from selftests) as chain
            where seq > ${String(result.backupHead?.seq ?? 0)}) as after,
          (select count(*) from run_results) as runs
        from (select 1) as one
        left join (select seq, record_hash from run_results union all select seq, record_hash from run_reviews
          union all select seq, record_hash from selftests order by seq desc limit 1) as head on true`.execute(
        trx,
      );
      const row = rows[0];
      result.liveHead =
        row?.seq == null || row.record_hash == null
          ? null
          : { seq: Number(row.seq), recordHash: row.record_hash };
      result.liveRecordsAfter = Number(row?.after ?? 0);
      result.liveRuns = Number(row?.runs ?? 0);
      return result;
    });
}

/** An evidence database restored into scratch: the kysely handle, and PGlite for read-only queries. */
export interface ScratchEvidenceDb {
  db: Kysely<Database>;
  lite: PGlite;
  close(): Promise<void>;
}

/**
 * Opens a fresh embedded evidence database in `dataDir` (from the build's seed, so it is
 * quick) and migrates it: the schema a restored bundle must fit. No lock file: the
 * folder is the run's own scratch.
 */
export async function openScratchEvidenceDb(
  dataDir: string,
  onSeedFailed: (error: unknown) => void,
): Promise<ScratchEvidenceDb> {
  const { createPgConfig } = await import('@electric-sql/pglite/node-postgres');
  const lite = await openPglite(dataDir, { onSeedFailed, seedVariants: [migratedSeedVariant()] });
  const pool = new pg.Pool({ ...createPgConfig(lite), idleTimeoutMillis: 0 } as PoolConfig);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    await migrateToLatest(db);
  } catch (error) {
    await db.destroy().catch(() => undefined);
    await lite.close().catch(() => undefined);
    throw error;
  }
  let closed = false;
  return {
    db,
    lite,
    close: async () => {
      if (closed) return;
      closed = true;
      await db.destroy();
      await lite.close();
    },
  };
}

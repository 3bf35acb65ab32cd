import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import { VERSION } from '../version.js';
import { listPurges, streamRunItems, type PurgeEntry } from './chain.js';
import type { Database } from './database.js';
import { chainHead, GENESIS_HASH } from './runs.js';

// The auditor's bundle: JSON Lines. Line 1 is a header; then one line per record,
// in seq order, carrying the exact stored text and its two hashes, optionally
// followed by that run's items. `evidence verify bundle.jsonl` recomputes every
// hash from the header's anchor without a database.

/** The `format` of every bundle header. */
export const BUNDLE_FORMAT = 'restore-drill-evidence-bundle';
/** Bumped when a reader of the previous version could misread a new bundle. */
export const BUNDLE_VERSION = 1;

const hash = z.string().regex(/^[0-9a-f]{64}$/, { message: 'expected 64 lower-case hex digits' });

/** Line 1. */
export const bundleHeaderSchema = z.object({
  type: z.literal('header'),
  format: z.literal(BUNDLE_FORMAT),
  version: z.literal(BUNDLE_VERSION),
  exportedAt: z.string(),
  generator: z.string(),
  /** What was asked for: runs started at or after `since` (null: everything kept). */
  range: z.object({ since: z.string().nullable() }),
  records: z.number().int().nonnegative(),
  firstSeq: z.number().int().nullable(),
  lastSeq: z.number().int().nullable(),
  /**
   * What the first record links to: the genesis hash, the anchor left by a purge,
   * or the record_hash of the record just before the export (`seq`). Compare it
   * with the head of an earlier export to join bundles into one verified history.
   */
  anchor: z.object({
    kind: z.enum(['genesis', 'purge', 'record']),
    seq: z.number().int().nullable(),
    prevHash: hash,
  }),
  /** The last exported record: the chain head when the bundle was made. */
  head: z.object({ seq: z.number().int(), recordHash: hash }).nullable(),
  items: z.boolean(),
  /** Where the chain was cut before this export, for the reader. */
  purges: z.array(z.custom<PurgeEntry>()),
});
export type BundleHeader = z.infer<typeof bundleHeaderSchema>;

/** One record: its place in the chain and its exact stored text. */
export const bundleRecordSchema = z.object({
  type: z.literal('record'),
  seq: z.number().int(),
  /** A run's result, a review (sign-off) of a run or a selftest; a run when absent (bundles before reviews). */
  kind: z.enum(['run', 'review', 'selftest']).optional(),
  /** The run's id (for a review, the reviewed run's). */
  runId: z.string(),
  prevHash: hash,
  recordHash: hash,
  /** The canonical JSON exactly as stored and hashed; parse it to read the run. */
  record: z.string(),
});
export type BundleRecord = z.infer<typeof bundleRecordSchema>;

/** One restored item of the record above (with `--items`). */
export const bundleItemSchema = z.object({
  type: z.literal('item'),
  seq: z.number().int(),
  path: z.string(),
  size: z.number(),
  sha256: z.string().nullable(),
  /** A symbolic link's target; absent for regular files (and in bundles from before links were items). */
  linkTarget: z.string().optional(),
});

export interface ExportOptions {
  /** Export from the first record of a run started at or after this; everything kept when absent. */
  since?: Date | undefined;
  /** Also write each run's items after its record. */
  items?: boolean | undefined;
  /** The export's clock (tests). */
  now?: Date | undefined;
  batchSize?: number | undefined;
  /**
   * Runs first inside the export's repeatable-read transaction, so what it reads or
   * starts (a pg_dump with the exported snapshot) sees exactly the records the bundle holds.
   */
  inSnapshot?: ((trx: Kysely<Database>) => Promise<void>) | undefined;
}

/** What an export wrote. */
export interface ExportSummary {
  records: number;
  /** Of the records: runs' results, reviews and selftests. */
  runs: number;
  reviews: number;
  selftests: number;
  items: number;
  firstSeq: number | null;
  lastSeq: number | null;
  /** The header's anchor and head: where the bundle links in, and the chain head it ends at. */
  anchor: BundleHeader['anchor'];
  head: BundleHeader['head'];
}

/**
 * Writes a bundle to `out`: the header, then every record from the first one
 * started at or after `since` to the chain head, contiguous in seq so that it
 * verifies from its anchor. Reads in one repeatable-read transaction (the
 * header's counts match the lines) and in batches, waiting for the stream to
 * drain: memory stays flat whatever the number of runs.
 */
export async function exportEvidence(
  db: Kysely<Database>,
  out: Writable,
  options: ExportOptions = {},
): Promise<ExportSummary> {
  const batchSize = options.batchSize ?? 1000;
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      await options.inSnapshot?.(trx);
      // Runs and reviews share one seq order: the chain is the union of both tables.
      const chain = sql`(select seq, 'run' as kind, run_id, prev_hash, record_hash, record from run_results
        union all select seq, 'review', run_id, prev_hash, record_hash, record from run_reviews
        union all select seq, 'selftest', run_id, prev_hash, record_hash, record from selftests) as chain`;
      const start = options.since
        ? await trx
            .selectFrom('run_results')
            .select((eb) => eb.fn.min('seq').as('seq'))
            .where('started_at', '>=', options.since)
            .executeTakeFirst()
        : (await sql<{ seq: string | null }>`select min(seq) as seq from ${chain}`.execute(trx))
            .rows[0];
      const firstSeq = start?.seq == null ? null : Number(start.seq);
      const purges = await listPurges(trx);
      const head = await chainHead(trx);
      let records = 0;
      let anchor: BundleHeader['anchor'] = { kind: 'genesis', seq: null, prevHash: GENESIS_HASH };
      if (firstSeq !== null) {
        const { rows } = await sql<{ count: string; prev_hash: string; before: string | null }>`
          select (select count(*) from ${chain} where seq >= ${String(firstSeq)}) as count,
            (select prev_hash from ${chain} where seq = ${String(firstSeq)}) as prev_hash,
            (select max(seq) from ${chain} where seq < ${String(firstSeq)}) as before`.execute(trx);
        const found = rows[0] as { count: string; prev_hash: string; before: string | null };
        records = Number(found.count);
        const lastPurge = purges[purges.length - 1];
        anchor =
          found.before !== null
            ? { kind: 'record', seq: Number(found.before), prevHash: found.prev_hash }
            : lastPurge !== undefined
              ? { kind: 'purge', seq: lastPurge.lastSeq, prevHash: found.prev_hash }
              : { kind: 'genesis', seq: null, prevHash: found.prev_hash };
      }
      const header: BundleHeader = {
        type: 'header',
        format: BUNDLE_FORMAT,
        version: BUNDLE_VERSION,
        exportedAt: (options.now ?? new Date()).toISOString(),
        generator: `restore-drill ${VERSION}`,
        range: { since: options.since?.toISOString() ?? null },
        records,
        firstSeq,
        lastSeq: firstSeq === null || head === undefined ? null : head.seq,
        anchor,
        head:
          firstSeq === null || head === undefined
            ? null
            : { seq: head.seq, recordHash: head.recordHash },
        items: options.items === true,
        purges,
      };
      await writeLine(out, header);
      let items = 0;
      let written = 0;
      let runs = 0;
      let reviews = 0;
      let after = firstSeq === null ? null : firstSeq - 1;
      while (after !== null) {
        const { rows } = await sql<{
          seq: string;
          kind: 'run' | 'review' | 'selftest';
          run_id: string;
          prev_hash: string;
          record_hash: string;
          record: string;
        }>`select * from ${chain} where seq > ${String(after)} order by seq limit ${sql.lit(batchSize)}`.execute(
          trx,
        );
        for (const row of rows) {
          const seq = Number(row.seq);
          const line: BundleRecord = {
            type: 'record',
            seq,
            kind: row.kind,
            runId: row.run_id,
            prevHash: row.prev_hash,
            recordHash: row.record_hash,
            record: row.record,
          };
          await writeLine(out, line);
          written++;
          if (row.kind === 'run') runs++;
          else if (row.kind === 'review') reviews++;
          if (options.items && row.kind === 'run')
            items += await writeItems(trx, out, row.run_id, seq, batchSize);
        }
        after = rows.length < batchSize ? null : Number(rows[rows.length - 1]?.seq);
      }
      return {
        records: written,
        runs,
        reviews,
        selftests: written - runs - reviews,
        items,
        firstSeq,
        lastSeq: header.lastSeq,
        anchor,
        head: header.head,
      };
    });
}

function writeItems(
  trx: Kysely<Database>,
  out: Writable,
  runId: string,
  seq: number,
  batchSize: number,
): Promise<number> {
  return streamRunItems(trx, runId, batchSize, (item) =>
    writeLine(out, { type: 'item', seq, ...item }),
  );
}

async function writeLine(out: Writable, value: unknown): Promise<void> {
  if (!out.write(`${JSON.stringify(value)}\n`)) await once(out, 'drain');
}

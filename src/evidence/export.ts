import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import { VERSION } from '../version.js';
import { listPurges, type PurgeEntry } from './chain.js';
import type { Database } from './database.js';
import { ITEM_LINE_SQL } from './items-digest.js';
import { GENESIS_HASH, runItemOf } from './runs.js';

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
}

/** What an export wrote. */
export interface ExportSummary {
  records: number;
  items: number;
  firstSeq: number | null;
  lastSeq: number | null;
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
      let startQuery = trx.selectFrom('run_results').select((eb) => eb.fn.min('seq').as('seq'));
      if (options.since) startQuery = startQuery.where('started_at', '>=', options.since);
      const start = await startQuery.executeTakeFirst();
      const firstSeq = start?.seq == null ? null : Number(start.seq);
      const purges = await listPurges(trx);
      const head = await trx
        .selectFrom('run_results')
        .select(['seq', 'record_hash'])
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirst();
      let records = 0;
      let anchor: BundleHeader['anchor'] = { kind: 'genesis', seq: null, prevHash: GENESIS_HASH };
      if (firstSeq !== null) {
        const counted = await trx
          .selectFrom('run_results')
          .select((eb) => eb.fn.countAll<string>().as('count'))
          .where('seq', '>=', String(firstSeq))
          .executeTakeFirstOrThrow();
        records = Number(counted.count);
        const first = await trx
          .selectFrom('run_results')
          .select('prev_hash')
          .where('seq', '=', String(firstSeq))
          .executeTakeFirstOrThrow();
        const before = await trx
          .selectFrom('run_results')
          .select('seq')
          .where('seq', '<', String(firstSeq))
          .orderBy('seq', 'desc')
          .limit(1)
          .executeTakeFirst();
        const lastPurge = purges[purges.length - 1];
        anchor =
          before !== undefined
            ? { kind: 'record', seq: Number(before.seq), prevHash: first.prev_hash }
            : lastPurge !== undefined
              ? { kind: 'purge', seq: lastPurge.lastSeq, prevHash: first.prev_hash }
              : { kind: 'genesis', seq: null, prevHash: first.prev_hash };
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
        lastSeq: firstSeq === null || head === undefined ? null : Number(head.seq),
        anchor,
        head:
          firstSeq === null || head === undefined
            ? null
            : { seq: Number(head.seq), recordHash: head.record_hash },
        items: options.items === true,
        purges,
      };
      await writeLine(out, header);
      let items = 0;
      let written = 0;
      let after = firstSeq === null ? null : firstSeq - 1;
      while (after !== null) {
        const rows = await trx
          .selectFrom('run_results')
          .select(['seq', 'run_id', 'prev_hash', 'record_hash', 'record'])
          .where('seq', '>', String(after))
          .orderBy('seq')
          .limit(batchSize)
          .execute();
        for (const row of rows) {
          const seq = Number(row.seq);
          const line: BundleRecord = {
            type: 'record',
            seq,
            runId: row.run_id,
            prevHash: row.prev_hash,
            recordHash: row.record_hash,
            record: row.record,
          };
          await writeLine(out, line);
          written++;
          if (options.items) items += await writeItems(trx, out, row.run_id, seq, batchSize);
        }
        after = rows.length < batchSize ? null : Number(rows[rows.length - 1]?.seq);
      }
      return { records: written, items, firstSeq, lastSeq: header.lastSeq };
    });
}

async function writeItems(
  trx: Kysely<Database>,
  out: Writable,
  runId: string,
  seq: number,
  batchSize: number,
): Promise<number> {
  // A cursor in the export's transaction: a run may hold millions of items, and
  // paths need not be unique, so neither offsets nor keys page them well.
  // In the itemsDigest's order, so `evidence verify` recomputes it as the lines stream.
  await sql`declare restore_drill_export_items no scroll cursor for
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
    }>`fetch forward ${sql.lit(batchSize)} from restore_drill_export_items`.execute(trx);
    for (const row of rows) await writeLine(out, { type: 'item', seq, ...runItemOf(row) });
    count += rows.length;
    if (rows.length < batchSize) break;
  }
  // On an error the transaction's end closes the cursor instead.
  await sql`close restore_drill_export_items`.execute(trx);
  return count;
}

async function writeLine(out: Writable, value: unknown): Promise<void> {
  if (!out.write(`${JSON.stringify(value)}\n`)) await once(out, 'drain');
}

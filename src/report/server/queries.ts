import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../../evidence/database.js';
import type { RunItem, RunVerdict } from '../../evidence/run-record.js';
import { countRuns, runItemOf } from '../../evidence/runs.js';
import {
  summarizeEvidence,
  type DrillSummary,
  type EvidenceSummary,
  type SummaryDrill,
} from '../drill-summary.js';
import {
  loadChainHead,
  loadSelftests,
  loadDrillFacts,
  pointColumns,
  pointOf,
  type PointRow,
} from '../load-summary.js';
import type { RunRow } from '../render-csv.js';

// What the web view reads beyond the summary model: pages of runs and items, and
// a run's neighbours in the chain. Each page is read in one snapshot, so its total
// and its rows agree even while drills append.

type Db = Kysely<Database> | Transaction<Database>;

/** Which runs a list shows: started in [since, until), of these drills and verdicts (all when absent). */
export interface RunQuery {
  since: Date;
  until: Date;
  drills?: readonly string[] | undefined;
  verdicts?: readonly RunVerdict[] | undefined;
}

/** One page of a list, 1-based, with the total over every page. */
export interface Page<T> {
  page: number;
  pageSize: number;
  total: number;
  rows: T[];
}

/** Runs matching `query`, newest first, one page of them. */
export async function loadRunPage(
  db: Kysely<Database>,
  query: RunQuery,
  page: number,
  pageSize: number,
): Promise<Page<RunRow>> {
  const conditions = [sql`started_at >= ${query.since}`, sql`started_at < ${query.until}`];
  if (query.drills !== undefined)
    conditions.push(
      query.drills.length === 0 ? sql`false` : sql`drill in (${sql.join([...query.drills])})`,
    );
  if (query.verdicts !== undefined)
    conditions.push(
      query.verdicts.length === 0 ? sql`false` : sql`verdict in (${sql.join([...query.verdicts])})`,
    );
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const total = await countRuns(trx, {
        since: query.since,
        until: query.until,
        drill: query.drills,
        verdict: query.verdicts,
      });
      const { rows } =
        await sql<PointRow>`select ${pointColumns} from run_results where ${sql.join(conditions, sql` and `)}
        order by started_at desc, seq desc limit ${pageSize} offset ${(page - 1) * pageSize}`.execute(
          trx,
        );
      return { page, pageSize, total, rows: rows.map(pointOf) };
    });
}

/** One page of a run's restored items, ordered by path (bytewise, as stored). */
export async function loadItemPage(
  db: Kysely<Database>,
  runId: string,
  page: number,
  pageSize: number,
): Promise<Page<RunItem>> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const count = await trx
        .selectFrom('run_items')
        .select((eb) => eb.fn.countAll<string>().as('count'))
        .where('run_id', '=', runId)
        .executeTakeFirstOrThrow();
      const rows = await trx
        .selectFrom('run_items')
        .select(['path', 'size', 'sha256', 'link_target'])
        .where('run_id', '=', runId)
        .orderBy('path')
        .limit(pageSize)
        .offset((page - 1) * pageSize)
        .execute();
      return {
        page,
        pageSize,
        total: Number(count.count),
        rows: rows.map(runItemOf),
      };
    });
}

/** How many items a run restored (what `run_items` holds for it). */
export async function countRunItems(db: Db, runId: string): Promise<number> {
  const row = await db
    .selectFrom('run_items')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .where('run_id', '=', runId)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** The runs just before and after `seq` in the chain (null at either end, or when purged). */
export async function chainNeighbours(
  db: Db,
  seq: number,
): Promise<{
  previous: { seq: number; runId: string } | null;
  next: { seq: number; runId: string } | null;
}> {
  const previous = await db
    .selectFrom('run_results')
    .select(['seq', 'run_id'])
    .where('seq', '<', String(seq))
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  const next = await db
    .selectFrom('run_results')
    .select(['seq', 'run_id'])
    .where('seq', '>', String(seq))
    .orderBy('seq')
    .limit(1)
    .executeTakeFirst();
  const link = (row: { seq: string; run_id: string } | undefined) =>
    row === undefined ? null : { seq: Number(row.seq), runId: row.run_id };
  return { previous: link(previous), next: link(next) };
}

/** The window, the clock and the filters of `loadFilteredSummary`. */
export interface FilteredSummaryOptions {
  since: Date;
  until: Date;
  now: Date;
  /** Only these drills (by name). */
  only?: readonly string[] | undefined;
  /** Keep only drills this accepts; totals, findings and coverage then speak for those drills alone. */
  keep?: ((drill: DrillSummary) => boolean) | undefined;
  recentLimit?: number | undefined;
}

/**
 * The summary model, as `loadEvidenceSummary` builds it, narrowed by a filter on
 * the drills' own figures (state, verdicts). The facts are read once, in one
 * snapshot; the summary is made twice, the second time for the drills kept, so
 * its totals and coverage match what is shown.
 */
export async function loadFilteredSummary(
  db: Kysely<Database>,
  drills: readonly SummaryDrill[],
  options: FilteredSummaryOptions,
): Promise<EvidenceSummary> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const facts = await loadDrillFacts(trx, {
        since: options.since,
        until: options.until,
        drills: drills.map((drill) => drill.name),
        only: options.only,
        recentLimit: options.recentLimit,
      });
      const chain = await loadChainHead(trx);
      const selftests = await loadSelftests(
        trx,
        drills.map((drill) => drill.name),
      );
      const base = {
        now: options.now,
        since: options.since,
        until: options.until,
        chain,
        selftests,
      };
      const all = summarizeEvidence(drills, facts, { ...base, only: options.only });
      if (options.keep === undefined) return all;
      const kept = all.drills.filter(options.keep).map((drill) => drill.name);
      return summarizeEvidence(drills, facts, { ...base, only: kept });
    });
}

/** Whether a drill is configured or has ever left evidence (a retired drill's runs stay readable). */
export async function drillExists(
  db: Db,
  name: string,
  configured: ReadonlySet<string>,
): Promise<boolean> {
  if (configured.has(name)) return true;
  const row = await db
    .selectFrom('run_results')
    .select('seq')
    .where('drill', '=', name)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

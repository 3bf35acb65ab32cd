import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../evidence/database.js';
import { EvidenceError } from '../evidence/errors.js';
import { reviewRecordSchema } from '../evidence/reviews.js';
import { runRecordSchema, type RunVerdict } from '../evidence/run-record.js';
import { chainHead } from '../evidence/runs.js';
import { latestSelftests } from '../evidence/selftests.js';
import {
  DEFAULT_RECENT_LIMIT,
  MEDIAN_SAMPLE,
  emptyVerdicts,
  runDetailOf,
  summarizeEvidence,
  type ChainHead,
  type DrillFacts,
  type FailedRun,
  type ReviewStatus,
  type EvidenceSummary,
  type RunDetail,
  type SelftestStatus,
  EVIDENCE_BACKUP_KIND,
  type EvidenceRestorable,
  type SummaryDrill,
} from './drill-summary.js';
import type { RunRow } from './render-csv.js';

// The summary from the evidence database without loading every record: counts
// and RTO statistics are aggregated in SQL over the window; only three records
// per drill (last run, last pass, last failure) are read whole, and the recent
// runs come from columns plus two fields pulled out of the record by the server.

type Db = Kysely<Database> | Transaction<Database>;

export interface LoadFactsOptions {
  since: Date;
  until: Date;
  /** Drills to load even without runs in the window (the configured ones). */
  drills: readonly string[];
  /** Only these drills; every drill with runs in the window is added otherwise. */
  only?: readonly string[] | undefined;
  recentLimit?: number | undefined;
}

/** The per-drill facts, as `factsFromRecords` computes them, from SQL. */
export async function loadDrillFacts(db: Db, options: LoadFactsOptions): Promise<DrillFacts[]> {
  const recentLimit = options.recentLimit ?? DEFAULT_RECENT_LIMIT;
  const only = options.only === undefined ? undefined : [...new Set(options.only)];
  let windowQuery = db
    .selectFrom('run_results')
    .select((eb) => [
      'drill',
      eb.fn.countAll<string>().as('runs'),
      sql<string>`count(*) filter (where verdict = 'passed')`.as('passed'),
      sql<string>`count(*) filter (where verdict = 'failed')`.as('failed'),
      sql<string>`count(*) filter (where verdict = 'error')`.as('error'),
      sql<string>`count(*) filter (where verdict = 'timed_out')`.as('timed_out'),
      sql<string>`count(*) filter (where verdict = 'aborted')`.as('aborted'),
      sql<number | null>`max(restore_ms + verify_ms) filter (where verdict = 'passed')`.as(
        'rv_max',
      ),
    ])
    .where('started_at', '>=', options.since)
    .where('started_at', '<', options.until)
    .groupBy('drill');
  if (only !== undefined)
    windowQuery =
      only.length === 0
        ? windowQuery.where(sql.lit(false))
        : windowQuery.where('drill', 'in', only);
  const windowRows = await windowQuery.execute();

  const names = new Set<string>(only ?? options.drills);
  for (const row of windowRows) names.add(row.drill);
  const facts = new Map<string, DrillFacts>();
  for (const name of names) {
    facts.set(name, {
      drill: name,
      verdicts: emptyVerdicts(),
      restoreVerifyMaxMs: null,
      restoreVerifyMedianMs: null,
      lastRun: null,
      lastPass: null,
      lastFailure: null,
      recent: [],
    });
  }
  for (const row of windowRows) {
    const entry = facts.get(row.drill);
    if (!entry) continue;
    entry.verdicts = {
      passed: Number(row.passed),
      failed: Number(row.failed),
      error: Number(row.error),
      timed_out: Number(row.timed_out),
      aborted: Number(row.aborted),
    };
    entry.restoreVerifyMaxMs = row.rv_max === null ? null : Number(row.rv_max);
  }
  if (names.size === 0) return [];
  const list = [...names];

  // Newest run, pass and failure of each drill before `until`, however old: one index probe each.
  const notable = await sql<{
    drill: string;
    kind: 'run' | 'pass' | 'failure';
    seq: string;
    run_id: string;
    record: string;
  }>`
    select d.name as drill, 'run' as kind, r.seq, r.run_id, r.record from unnest(${list}::text[]) as d(name)
      cross join lateral (select seq, run_id, record from run_results
        where drill = d.name and started_at < ${options.until} order by started_at desc, seq desc limit 1) r
    union all
    select d.name, 'pass', r.seq, r.run_id, r.record from unnest(${list}::text[]) as d(name)
      cross join lateral (select seq, run_id, record from run_results
        where drill = d.name and verdict = 'passed' and started_at < ${options.until} order by started_at desc, seq desc limit 1) r
    union all
    select d.name, 'failure', r.seq, r.run_id, r.record from unnest(${list}::text[]) as d(name)
      cross join lateral (select seq, run_id, record from run_results
        where drill = d.name and verdict <> 'passed' and started_at < ${options.until} order by started_at desc, seq desc limit 1) r`.execute(
    db,
  );
  const key = { run: 'lastRun', pass: 'lastPass', failure: 'lastFailure' } as const;
  for (const row of notable.rows) {
    const entry = facts.get(row.drill);
    if (entry) entry[key[row.kind]] = detailOf(row);
  }

  // The median over each drill's newest passes in the window: a bounded index read, not a sort of the whole window.
  const medians = await sql<{ drill: string; median: number | null }>`
    select d.name as drill, (select percentile_cont(0.5) within group (order by p.rv) from (
        select restore_ms + verify_ms as rv from run_results
        where drill = d.name and verdict = 'passed' and started_at >= ${options.since} and started_at < ${options.until}
        order by started_at desc, seq desc limit ${MEDIAN_SAMPLE}) p) as median
    from unnest(${list}::text[]) as d(name)`.execute(db);
  for (const row of medians.rows) {
    const entry = facts.get(row.drill);
    if (entry) entry.restoreVerifyMedianMs = row.median === null ? null : Number(row.median);
  }

  if (recentLimit > 0) {
    const recent = await sql<PointRow & { drill: string }>`
      select d.name as drill, r.* from unnest(${list}::text[]) as d(name)
        cross join lateral (select ${pointColumns} from run_results
          where drill = d.name and started_at >= ${options.since} and started_at < ${options.until}
          order by started_at desc, seq desc limit ${recentLimit}) r`.execute(db);
    for (const row of recent.rows) facts.get(row.drill)?.recent.push(pointOf(row));
    for (const entry of facts.values()) entry.recent.reverse();
  }
  return [...facts.values()];
}

/** Columns and record fields a RunPoint needs; `cause` and the set's mtime come out of the record on the server. */
export const pointColumns = sql`seq, run_id, drill, verdict, started_at, finished_at, restore_ms + verify_ms as restore_verify_ms, total_ms, files, bytes,
  checks_failed, set_path, (record::json)->>'cause' as cause, (record::json)->'set'->>'mtime' as set_mtime, record_hash`;

/** A row as `pointColumns` selects it (int8 columns as text). */
export interface PointRow {
  seq: string;
  run_id: string;
  drill: string;
  verdict: string;
  started_at: Date;
  finished_at: Date;
  restore_verify_ms: number;
  total_ms: number;
  files: number;
  bytes: string;
  checks_failed: number;
  set_path: string | null;
  cause: string | null;
  set_mtime: string | null;
  record_hash: string;
}

/** A row selected with `pointColumns` as a RunRow. */
export function pointOf(row: PointRow): RunRow {
  const mtime = row.set_mtime === null ? Number.NaN : Date.parse(row.set_mtime);
  return {
    runId: row.run_id,
    seq: Number(row.seq),
    drill: row.drill,
    verdict: row.verdict as RunVerdict,
    startedAt: row.started_at.toISOString(),
    finishedAt: row.finished_at.toISOString(),
    restoreVerifyMs: Number(row.restore_verify_ms),
    totalMs: Number(row.total_ms),
    files: row.files,
    bytes: Number(row.bytes),
    checksFailed: row.checks_failed,
    cause: row.cause,
    setPath: row.set_path,
    setAgeMs: Number.isNaN(mtime) ? null : row.started_at.getTime() - mtime,
    recordHash: row.record_hash,
  };
}

function detailOf(row: { seq: string; run_id: string; record: string }): RunDetail {
  let value: unknown;
  try {
    value = JSON.parse(row.record);
  } catch {
    value = undefined;
  }
  const parsed = runRecordSchema.safeParse(value);
  if (!parsed.success) {
    throw new EvidenceError(
      'corrupt-record',
      `stored record seq ${row.seq} (run ${row.run_id}) is not a valid run record; run restore-drill evidence verify`,
    );
  }
  return runDetailOf(parsed.data, Number(row.seq));
}

/** Each drill's latest selftest (whenever it ran), as the report shows it. */
export async function loadSelftests(
  db: Db,
  drills: readonly string[],
): Promise<Map<string, SelftestStatus>> {
  const statuses = new Map<string, SelftestStatus>();
  for (const [drill, stored] of await latestSelftests(db, drills))
    statuses.set(drill, {
      id: stored.runId,
      startedAt: stored.startedAt,
      verdict: stored.verdict,
      cause: stored.cause,
      detected: stored.damages.filter((damage) => damage.detected).map((damage) => damage.kind),
      undetected: stored.damages.filter((damage) => !damage.detected).map((damage) => damage.kind),
      findings: stored.damages.flatMap((damage) => (damage.finding ? [damage.finding] : [])),
    });
  return statuses;
}

/** When the evidence store was last proven restorable: the newest pass of a drill of kind `evidence-backup`. */
export async function loadEvidenceRestorable(
  db: Db,
  drills: readonly SummaryDrill[],
): Promise<EvidenceRestorable> {
  const names = drills
    .filter((drill) => drill.source?.kind === EVIDENCE_BACKUP_KIND)
    .map((drill) => drill.name);
  if (names.length === 0) return { drills: [], lastPass: null };
  const row = await db
    .selectFrom('run_results')
    .select(['run_id', 'drill', 'started_at', 'finished_at'])
    .where('drill', 'in', names)
    .where('verdict', '=', 'passed')
    .orderBy('started_at', 'desc')
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  return {
    drills: names,
    lastPass: row
      ? {
          runId: row.run_id,
          drill: row.drill,
          startedAt: new Date(row.started_at).toISOString(),
          finishedAt: new Date(row.finished_at).toISOString(),
        }
      : null,
  };
}

/** The newest record of the chain (a run, a review or a selftest), or null when it is empty. */
export async function loadChainHead(db: Db): Promise<ChainHead | null> {
  return (await chainHead(db)) ?? null;
}

export interface LoadFailedRunsOptions {
  since: Date;
  until: Date;
  now: Date;
  only?: readonly string[] | undefined;
  /** Failures before the window are loaded too when unreviewed longer than this. */
  maxUnreviewedMs: number;
}

/**
 * Failed runs with their latest review: every one started in the window, and any
 * earlier one still unreviewed after `maxUnreviewedMs` (an old failure nobody
 * signed off does not drop out of the report with the window).
 */
export async function loadFailedRuns(db: Db, options: LoadFailedRunsOptions): Promise<FailedRun[]> {
  const only = options.only === undefined ? undefined : [...new Set(options.only)];
  if (only !== undefined && only.length === 0) return [];
  const overdueBefore = new Date(options.now.getTime() - options.maxUnreviewedMs);
  const drillFilter = only === undefined ? sql`` : sql`and r.drill in (${sql.join(only)})`;
  const { rows } = await sql<{
    seq: string;
    run_id: string;
    drill: string;
    started_at: Date;
    review_seq: string | null;
    review: string | null;
    reviews: string;
  }>`select r.seq, r.run_id, r.drill, r.started_at, v.seq as review_seq, v.record as review,
      (select count(*) from run_reviews c where c.run_id = r.run_id) as reviews
    from run_results r
    left join lateral (select seq, record from run_reviews w where w.run_id = r.run_id
      order by seq desc limit 1) v on true
    where r.verdict = 'failed' and r.started_at < ${options.until}
      and (r.started_at >= ${options.since} or (v.seq is null and r.started_at < ${overdueBefore}))
      ${drillFilter}
    order by r.started_at, r.seq`.execute(db);
  return rows.map((row) => ({
    runId: row.run_id,
    seq: Number(row.seq),
    drill: row.drill,
    startedAt: new Date(row.started_at).toISOString(),
    review: row.review === null ? null : reviewStatusOf(Number(row.review_seq), row.review),
    reviews: Number(row.reviews),
  }));
}

function reviewStatusOf(seq: number, text: string): ReviewStatus {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const parsed = reviewRecordSchema.safeParse(value);
  if (!parsed.success)
    throw new EvidenceError(
      'corrupt-record',
      `stored review seq ${seq} is not a valid review record; run restore-drill evidence verify`,
    );
  const { by, reviewedAt, decision, note, ticket, via } = parsed.data;
  return { by, reviewedAt, decision, note, ticket, via, seq };
}

export interface LoadSummaryOptions {
  since: Date;
  /** End of the window (exclusive); `now` when absent. */
  until?: Date | undefined;
  now?: Date | undefined;
  only?: readonly string[] | undefined;
  recentLimit?: number | undefined;
  /** `review.maxUnreviewed`: failed runs and their reviews are loaded when given. */
  maxUnreviewedMs?: number | undefined;
}

/**
 * The summary for reports and the web UI, straight from the evidence database:
 * `loadDrillFacts` and the chain head, then `summarizeEvidence`. Reads one
 * consistent snapshot.
 */
export async function loadEvidenceSummary(
  db: Kysely<Database>,
  drills: readonly SummaryDrill[],
  options: LoadSummaryOptions,
): Promise<EvidenceSummary> {
  const now = options.now ?? new Date();
  const until = options.until ?? now;
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const facts = await loadDrillFacts(trx, {
        since: options.since,
        until,
        drills: drills.map((drill) => drill.name),
        only: options.only,
        recentLimit: options.recentLimit,
      });
      const chain = await loadChainHead(trx);
      const maxUnreviewedMs = options.maxUnreviewedMs;
      const failedRuns =
        maxUnreviewedMs === undefined
          ? undefined
          : await loadFailedRuns(trx, {
              since: options.since,
              until,
              now,
              only: options.only,
              maxUnreviewedMs,
            });
      const selftests = await loadSelftests(
        trx,
        drills.map((drill) => drill.name),
      );
      const evidenceRestorable = await loadEvidenceRestorable(trx, drills);
      return summarizeEvidence(drills, facts, {
        now,
        since: options.since,
        until,
        only: options.only,
        chain,
        failedRuns,
        maxUnreviewedMs,
        selftests,
        evidenceRestorable,
      });
    });
}

export interface RunRowsOptions {
  since: Date;
  until: Date;
  only?: readonly string[] | undefined;
  batchSize?: number | undefined;
}

/** Every run in the window, in chain order, as CSV rows: read in batches, so memory stays flat. */
export async function* streamRunRows(db: Db, options: RunRowsOptions): AsyncGenerator<RunRow> {
  const batchSize = options.batchSize ?? 1000;
  const only = options.only === undefined ? undefined : [...options.only];
  if (only !== undefined && only.length === 0) return;
  let after = 0;
  for (;;) {
    const drillFilter = only === undefined ? sql`` : sql`and drill in (${sql.join(only)})`;
    const { rows } = await sql<PointRow>`select ${pointColumns} from run_results
      where seq > ${after} and started_at >= ${options.since} and started_at < ${options.until} ${drillFilter}
      order by seq limit ${batchSize}`.execute(db);
    for (const row of rows) yield pointOf(row);
    if (rows.length < batchSize) return;
    after = Number(rows[rows.length - 1]?.seq);
  }
}

/** Drill names that appear in the evidence, of those asked about. */
export async function drillsWithEvidence(db: Db, names: readonly string[]): Promise<Set<string>> {
  if (names.length === 0) return new Set();
  const rows = await db
    .selectFrom('run_results')
    .select('drill')
    .distinct()
    .where('drill', 'in', [...names])
    .execute();
  return new Set(rows.map((row) => row.drill));
}

import type { Kysely } from 'kysely';
import type { z } from 'zod';
import type { Database } from '../../evidence/database.js';
import { listReviews } from '../../evidence/reviews.js';
import { getRun, type StoredRun } from '../../evidence/runs.js';
import type { DrillSummary, EvidenceSummary, SummaryDrill } from '../drill-summary.js';
import type { RunRow } from '../render-csv.js';
import {
  chainNeighbours,
  countRunItems,
  drillExists,
  loadFilteredSummary,
  loadItemPage,
  loadRunPage,
  type Page,
} from './queries.js';
import {
  BadRequest,
  DRILL_NAME,
  RUN_ID,
  drillQuery,
  itemsQuery,
  noQuery,
  overviewQuery,
  parseQuery,
  periodOf,
  runsQuery,
  type Period,
} from './query.js';
import { drillPage } from './pages/drill-page.js';
import { itemsPage, runsPage } from './pages/list-pages.js';
import { overviewPage } from './pages/overview-page.js';
import { runPage } from './pages/run-page.js';
import type { ReviewerSession } from './reviewers.js';

// The route table: each page and its JSON twin read the same data through the
// same functions; only the rendering differs.

/** What a route answers: an HTML page or a JSON document. */
export interface Reply {
  status: number;
  type: 'html' | 'json';
  body: string;
}

/** What every route can see. */
export interface RouteContext {
  db: Kysely<Database>;
  drills: readonly SummaryDrill[];
  url: URL;
  now: Date;
  /** Whether reviewers are configured, and the signed-in one (null: none); absent reads as neither. */
  signoff?: { enabled: boolean; reviewer: ReviewerSession | null } | undefined;
}

/** A missing page or record: 404 with one line. */
export class NotFound extends BadRequest {
  constructor(message: string) {
    super(message, 404);
  }
}

type Handler = (context: RouteContext, params: readonly string[]) => Promise<Reply>;

interface Route {
  pattern: RegExp;
  handler: Handler;
}

/** Path parameters are one segment each; what they may hold is checked by the handler. */
const SEGMENT = '([^/]+)';

const ROUTES: readonly Route[] = [
  { pattern: /^\/$/, handler: overview },
  { pattern: /^\/runs$/, handler: runs },
  { pattern: new RegExp(`^/drills/${SEGMENT}$`), handler: drill },
  { pattern: new RegExp(`^/runs/${SEGMENT}$`), handler: run },
  { pattern: new RegExp(`^/runs/${SEGMENT}/items$`), handler: items },
  { pattern: /^\/api\/summary$/, handler: apiSummary },
  { pattern: /^\/api\/runs$/, handler: apiRuns },
  { pattern: new RegExp(`^/api/drills/${SEGMENT}/runs$`), handler: apiDrillRuns },
  { pattern: new RegExp(`^/api/runs/${SEGMENT}$`), handler: apiRun },
  { pattern: new RegExp(`^/api/runs/${SEGMENT}/items$`), handler: apiItems },
];

/** Whether a path belongs to the JSON API (errors there are JSON too). */
export function isApiPath(path: string): boolean {
  return path === '/api' || path.startsWith('/api/');
}

/** Finds the route for `context.url` and runs it; throws BadRequest / NotFound for the caller to answer. */
export async function dispatch(context: RouteContext): Promise<Reply> {
  const path =
    context.url.pathname.length > 1
      ? context.url.pathname.replace(/\/+$/, '')
      : context.url.pathname;
  for (const route of ROUTES) {
    const match = route.pattern.exec(path);
    if (!match) continue;
    const params = match.slice(1).map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        throw new BadRequest(`path: '${segment}' is not valid percent-encoding`);
      }
    });
    return route.handler(context, params);
  }
  throw new NotFound(`no page at ${path}`);
}

function json(value: unknown, status = 200): Reply {
  return { status, type: 'json', body: `${JSON.stringify(value, null, 2)}\n` };
}

function htmlReply(body: string, status = 200): Reply {
  return { status, type: 'html', body };
}

const configuredNames = (context: RouteContext) =>
  new Set(context.drills.map((entry) => entry.name));

/** Configured owners, sorted, for the owner filter. */
function ownersOf(context: RouteContext): string[] {
  return [...new Set(context.drills.flatMap((entry) => (entry.owner ? [entry.owner] : [])))].sort();
}

/**
 * The drills a `drill` / `owner` filter selects: undefined for all. An unknown
 * drill (not configured, no evidence) or owner is refused, as `report --drill` does.
 */
async function selectDrills(
  context: RouteContext,
  drills: readonly string[] | undefined,
  owner: string | undefined,
): Promise<string[] | undefined> {
  let selected: string[] | undefined;
  if (drills !== undefined) {
    const configured = configuredNames(context);
    for (const name of drills) {
      if (!(await drillExists(context.db, name, configured))) {
        throw new BadRequest(`drill: '${name}' is not a configured drill and has no evidence`);
      }
    }
    selected = [...new Set(drills)];
  }
  if (owner !== undefined) {
    const owned = context.drills
      .filter((entry) => entry.owner === owner)
      .map((entry) => entry.name);
    if (owned.length === 0) {
      const owners = ownersOf(context);
      throw new BadRequest(
        `owner: '${owner.length > 40 ? `${owner.slice(0, 37)}...` : owner}' owns no configured drill; expected one of ${owners.length === 0 ? '(no owners configured)' : owners.join(', ')}`,
      );
    }
    selected = selected === undefined ? owned : selected.filter((name) => owned.includes(name));
  }
  return selected;
}

async function summaryFor(context: RouteContext): Promise<{
  summary: EvidenceSummary;
  period: Period;
  query: z.output<ReturnType<typeof overviewQuery>>;
}> {
  const query = parseQuery(overviewQuery(context.now), context.url.searchParams);
  const period = periodOf(query, context.url.searchParams, context.now);
  const only = await selectDrills(context, query.drill, query.owner);
  const { state, verdict } = query;
  const keep =
    state === undefined && verdict === undefined
      ? undefined
      : (entry: DrillSummary) =>
          (state === undefined || entry.state === state) &&
          (verdict === undefined || verdict.some((name) => entry.verdicts[name] > 0));
  const summary = await loadFilteredSummary(context.db, context.drills, {
    since: period.since,
    until: period.until,
    now: context.now,
    only,
    keep,
  });
  return { summary, period, query };
}

async function overview(context: RouteContext): Promise<Reply> {
  const { summary, period, query } = await summaryFor(context);
  const names = [...configuredNames(context)];
  for (const entry of summary.drills) if (!names.includes(entry.name)) names.push(entry.name);
  const filtered = [query.drill, query.owner, query.state, query.verdict].some(
    (value) => value !== undefined,
  );
  return htmlReply(
    overviewPage(
      summary,
      {
        action: '/',
        since: period.text.since,
        until: period.text.until,
        drill: { options: names, selected: query.drill?.[0] },
        owner: { options: ownersOf(context), selected: query.owner },
        state: { selected: query.state },
        verdict: { selected: query.verdict?.[0] },
      },
      filtered,
    ),
  );
}

async function apiSummary(context: RouteContext): Promise<Reply> {
  return json((await summaryFor(context)).summary);
}

async function runsFor(context: RouteContext) {
  const query = parseQuery(runsQuery(context.now), context.url.searchParams);
  const period = periodOf(query, context.url.searchParams, context.now);
  const only = await selectDrills(context, query.drill, query.owner);
  const page = await loadRunPage(
    context.db,
    { since: period.since, until: period.until, drills: only, verdicts: query.verdict },
    query.page,
    query.pageSize,
  );
  return { query, period, page };
}

async function runs(context: RouteContext): Promise<Reply> {
  const { query, period, page } = await runsFor(context);
  const names = [...configuredNames(context)];
  return htmlReply(
    runsPage(
      page,
      {
        action: '/runs',
        since: period.text.since,
        until: period.text.until,
        drill: { options: names, selected: query.drill?.[0] },
        owner: { options: ownersOf(context), selected: query.owner },
        verdict: { selected: query.verdict?.[0] },
      },
      context.url.searchParams,
      period,
    ),
  );
}

/** The runs list as JSON: one page and where it sits. */
function runListJson(period: Period, page: Page<RunRow>, extra: Record<string, unknown> = {}) {
  return {
    ...extra,
    window: { since: period.since.toISOString(), until: period.until.toISOString() },
    page: page.page,
    pageSize: page.pageSize,
    total: page.total,
    runs: page.rows,
  };
}

async function apiRuns(context: RouteContext): Promise<Reply> {
  const { period, page } = await runsFor(context);
  return json(runListJson(period, page));
}

function drillName(name: string): string {
  if (!DRILL_NAME.test(name))
    throw new BadRequest(
      `drill name: '${name.length > 40 ? `${name.slice(0, 37)}...` : name}' is not a drill name; expected letters, digits, _ . -`,
    );
  return name;
}

async function drillData(context: RouteContext, rawName: string) {
  const name = drillName(rawName);
  const configured = configuredNames(context);
  if (!(await drillExists(context.db, name, configured)))
    throw new NotFound(`no drill '${name}': it is not configured and has no evidence`);
  const query = parseQuery(drillQuery(context.now), context.url.searchParams);
  const period = periodOf(query, context.url.searchParams, context.now);
  const page = await loadRunPage(
    context.db,
    { since: period.since, until: period.until, drills: [name], verdicts: query.verdict },
    query.page,
    query.pageSize,
  );
  return { name, configured: configured.has(name), query, period, page };
}

async function drill(context: RouteContext, [rawName]: readonly string[]): Promise<Reply> {
  const { name, configured, query, period, page } = await drillData(context, rawName as string);
  // A retired drill is summarised as if configured with nothing but its name, then marked as retired.
  const drills = configured ? context.drills : [...context.drills, { name }];
  const summary = await loadFilteredSummary(context.db, drills, {
    since: period.since,
    until: period.until,
    now: context.now,
    only: [name],
    recentLimit: 120,
  });
  const entry = summary.drills[0] as DrillSummary;
  return htmlReply(
    drillPage(
      { ...entry, configured },
      page,
      {
        action: `/drills/${encodeURIComponent(name)}`,
        since: period.text.since,
        until: period.text.until,
        verdict: { selected: query.verdict?.[0] },
      },
      context.url.searchParams,
    ),
  );
}

async function apiDrillRuns(context: RouteContext, [rawName]: readonly string[]): Promise<Reply> {
  const { name, period, page } = await drillData(context, rawName as string);
  return json(runListJson(period, page, { drill: name }));
}

async function findRun(context: RouteContext, id: string): Promise<StoredRun> {
  if (!RUN_ID.test(id))
    throw new BadRequest(
      `run id: '${id.length > 40 ? `${id.slice(0, 37)}...` : id}' is not a run id; expected a UUID or a unique prefix of it (4 or more characters)`,
    );
  const found = await getRun(context.db, id);
  if (!found) throw new NotFound(`no run '${id}' in the evidence`);
  return found;
}

async function runData(context: RouteContext, id: string) {
  parseQuery(noQuery, context.url.searchParams);
  const found = await findRun(context, id);
  const neighbours = await chainNeighbours(context.db, found.seq);
  const itemsTotal = await countRunItems(context.db, found.record.runId);
  return { found, neighbours, itemsTotal };
}

async function run(context: RouteContext, [id]: readonly string[]): Promise<Reply> {
  const { found, neighbours, itemsTotal } = await runData(context, id as string);
  const owner = context.drills.find((entry) => entry.name === found.record.drill)?.owner ?? null;
  const reviews = await listReviews(context.db, [found.record.runId]);
  return htmlReply(
    runPage(found, {
      itemsTotal,
      owner,
      ...neighbours,
      reviews,
      signoff: context.signoff ?? { enabled: false, reviewer: null },
    }),
  );
}

async function apiRun(context: RouteContext, [id]: readonly string[]): Promise<Reply> {
  const { found, neighbours, itemsTotal } = await runData(context, id as string);
  return json({
    record: found.record,
    chain: {
      seq: found.seq,
      prevHash: found.prevHash,
      recordHash: found.recordHash,
      previous: neighbours.previous,
      next: neighbours.next,
    },
    items: { total: itemsTotal },
  });
}

async function itemsData(context: RouteContext, id: string) {
  const query = parseQuery(itemsQuery, context.url.searchParams);
  const found = await findRun(context, id);
  const page = await loadItemPage(context.db, found.record.runId, query.page, query.pageSize);
  return { found, page };
}

async function items(context: RouteContext, [id]: readonly string[]): Promise<Reply> {
  const { found, page } = await itemsData(context, id as string);
  return htmlReply(itemsPage(found.record, page, context.url.searchParams));
}

async function apiItems(context: RouteContext, [id]: readonly string[]): Promise<Reply> {
  const { found, page } = await itemsData(context, id as string);
  return json({
    runId: found.record.runId,
    page: page.page,
    pageSize: page.pageSize,
    total: page.total,
    items: page.rows,
  });
}

import { z } from 'zod';
import { parseDuration } from '../../model/duration.js';
import { runVerdictSchema } from '../../evidence/run-record.js';
import { isCalendarDate } from '../controls.js';

// Every query parameter of every route goes through a zod schema here. A bad one
// is a 400 with one line naming the parameter and what is allowed; an unknown
// one too, so a typo (`verdcit=failed`) is never silently ignored.

const DAY_MS = 86_400_000;

/** A request the server refuses as malformed: status 400 (or another 4xx), one line. */
export class BadRequest extends Error {
  override readonly name = 'BadRequest';
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** The report period when the query names none, as `report --since` defaults. */
export const DEFAULT_SINCE = '90d';

/** Drill names as the config allows them (`nameSchema`), so a path or query cannot carry anything else. */
export const DRILL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Run ids are UUIDs; a unique prefix of 4 or more characters is accepted too, as `show` does. */
export const RUN_ID = /^[0-9A-Za-z-]{4,64}$/;

const drillName = z
  .string()
  .regex(DRILL_NAME, { message: 'expected a drill name (letters, digits, _ . -)' });

/**
 * A point in time: a duration back from `now` (`90d`), a day (`2026-01-01`) or an
 * ISO 8601 time with offset. A day as `until` means up to the end of that day,
 * as a person reading "until 31 March" expects.
 */
function timeParam(now: Date, edge: 'start' | 'end') {
  return z
    .string()
    .max(40, { message: 'expected at most 40 characters' })
    .transform((text, ctx) => {
      const duration = parseDuration(text);
      if (duration !== undefined) return new Date(now.getTime() - duration);
      if (isCalendarDate(text))
        return new Date(Date.parse(`${text}T00:00:00Z`) + (edge === 'end' ? DAY_MS : 0));
      if (z.iso.datetime({ offset: true }).safeParse(text).success) return new Date(text);
      ctx.addIssue({
        code: 'custom',
        message: `'${text}' is not a duration or a date; expected e.g. 90d, 2026-01-01 or 2026-01-01T00:00:00Z`,
      });
      return z.NEVER;
    });
}

function wholeNumber(max: number) {
  return z
    .string()
    .regex(/^\d{1,9}$/, { message: 'expected a whole number' })
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(1, { message: 'expected 1 or more' })
        .max(max, { message: `expected at most ${max}` }),
    );
}

/** Parameters that may be given more than once (`?drill=a&drill=b`). */
const REPEATABLE = new Set(['drill', 'verdict']);

/** Runs per page unless asked, and the most a page may hold. */
export const RUNS_PAGE = { size: 50, max: 500 } as const;
/** Items per page unless asked, and the most a page may hold. */
export const ITEMS_PAGE = { size: 200, max: 1000 } as const;

function periodFields(now: Date) {
  return {
    since: timeParam(now, 'start').optional(),
    until: timeParam(now, 'end').optional(),
  };
}

function pageFields(size: { size: number; max: number }) {
  return {
    page: wholeNumber(1_000_000).default(1),
    pageSize: wholeNumber(size.max).default(size.size),
  };
}

const filterFields = {
  drill: z.array(drillName).max(100, { message: 'expected at most 100 drills' }).optional(),
  owner: z.string().max(200, { message: 'expected at most 200 characters' }).optional(),
  verdict: z.array(runVerdictSchema).max(10).optional(),
};

/** `/` and `/api/summary`: the period, and which drills. */
export function overviewQuery(now: Date) {
  return z.strictObject({
    ...periodFields(now),
    ...filterFields,
    state: z.enum(['green', 'red', 'waived']).optional(),
  });
}

/** `/runs` and `/api/runs`: the period, which runs, which page. */
export function runsQuery(now: Date) {
  return z.strictObject({ ...periodFields(now), ...filterFields, ...pageFields(RUNS_PAGE) });
}

/** `/drills/:name` and `/api/drills/:name/runs`. */
export function drillQuery(now: Date) {
  return z.strictObject({
    ...periodFields(now),
    verdict: filterFields.verdict,
    ...pageFields(RUNS_PAGE),
  });
}

/** `/runs/:id/items` and `/api/runs/:id/items`. */
export const itemsQuery = z.strictObject(pageFields(ITEMS_PAGE));

/** `/runs/:id` and `/api/runs/:id` take no parameters. */
export const noQuery = z.strictObject({});

/** The period every listing resolves to: [since, until), with the text the person wrote, for the form. */
export interface Period {
  since: Date;
  until: Date;
  text: { since: string; until: string };
}

/**
 * Validates a query string against `schema`: empty values count as absent (a
 * form's "all" choice), a parameter given twice that may not be is refused, and
 * the first problem becomes a BadRequest naming the parameter.
 */
export function parseQuery<S extends z.ZodType>(schema: S, params: URLSearchParams): z.output<S> {
  const collected: Record<string, string | string[]> = {};
  for (const [key, value] of params) {
    if (value === '') continue;
    if (REPEATABLE.has(key)) {
      const list = collected[key];
      collected[key] = Array.isArray(list) ? [...list, value] : [value];
    } else if (key in collected) {
      throw new BadRequest(`${key}: given more than once; expected one value`);
    } else collected[key] = value;
  }
  const parsed = schema.safeParse(collected);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0] as z.core.$ZodIssue;
  if (issue.code === 'unrecognized_keys') {
    const allowed = schema instanceof z.ZodObject ? Object.keys(schema.shape).join(', ') : '';
    throw new BadRequest(
      `${issue.keys[0]}: unknown parameter; expected ${allowed === '' ? 'none' : `one of ${allowed}`}`,
    );
  }
  const name = String(issue.path[0] ?? 'query');
  if (issue.code === 'invalid_value') {
    throw new BadRequest(
      `${name}: ${describeGiven(collected[name], issue.path[1])} is not allowed; expected one of ${issue.values.map(String).join(', ')}`,
    );
  }
  throw new BadRequest(`${name}: ${issue.message}`);
}

function describeGiven(
  value: string | string[] | undefined,
  index: PropertyKey | undefined,
): string {
  const given = Array.isArray(value) && typeof index === 'number' ? value[index] : value;
  const text = String(given ?? '');
  return `'${text.length > 40 ? `${text.slice(0, 37)}...` : text}'`;
}

/** The period of a parsed query, defaults applied; since must come before until. */
export function periodOf(
  query: { since?: Date | undefined; until?: Date | undefined },
  params: URLSearchParams,
  now: Date,
): Period {
  const since = query.since ?? new Date(now.getTime() - (parseDuration(DEFAULT_SINCE) as number));
  const until = query.until ?? now;
  if (since.getTime() >= until.getTime()) {
    throw new BadRequest(
      `since: ${since.toISOString()} must be before until (${until.toISOString()})`,
    );
  }
  return {
    since,
    until,
    text: { since: params.get('since') || DEFAULT_SINCE, until: params.get('until') || '' },
  };
}

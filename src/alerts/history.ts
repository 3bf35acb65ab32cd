import type { Kysely } from 'kysely';
import type { Database } from '../evidence/database.js';
import { runRecordSchema, type RunRecord } from '../evidence/run-record.js';
import { RED_VERDICTS, type DrillHistory } from './state.js';

/**
 * A drill's history as the alert state machine needs it, in a few indexed
 * queries (newest run, newest decisive run, last pass, first red run after it,
 * how many), however many runs the drill has. `summarizeRuns` computes the same
 * from a list.
 */
export async function loadDrillHistory(db: Kysely<Database>, drill: string): Promise<DrillHistory> {
  const base = () => db.selectFrom('run_results').where('drill', '=', drill);
  const newest = () =>
    base()
      .select(['seq', 'run_id', 'record'])
      .orderBy('started_at', 'desc')
      .orderBy('seq', 'desc')
      .limit(1);
  const [latest, latestDecisive, lastPass, first] = await Promise.all([
    newest().executeTakeFirst(),
    newest().where('verdict', '!=', 'aborted').executeTakeFirst(),
    newest().where('verdict', '=', 'passed').executeTakeFirst(),
    base()
      .select((eb) => eb.fn.min('started_at').as('first'))
      .executeTakeFirst(),
  ]);
  const passRecord = lastPass ? parseStoredRun(lastPass) : null;
  let red = base().where('verdict', 'in', [...RED_VERDICTS]);
  if (passRecord) red = red.where('started_at', '>', new Date(passRecord.startedAt));
  const [firstRed, redCount] = await Promise.all([
    red
      .select(['seq', 'run_id', 'record'])
      .orderBy('started_at', 'asc')
      .orderBy('seq', 'asc')
      .limit(1)
      .executeTakeFirst(),
    red.select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow(),
  ]);
  const firstAt = first?.first;
  return {
    latest: latest ? parseStoredRun(latest) : null,
    latestDecisive: latestDecisive ? parseStoredRun(latestDecisive) : null,
    lastPass: passRecord,
    firstRedAfterPass: firstRed ? parseStoredRun(firstRed) : null,
    redAfterPass: Number(redCount.count),
    firstRunAt:
      firstAt === null || firstAt === undefined ? null : new Date(firstAt as Date | string),
  };
}

/** A stored run_results row's record, parsed; throws naming the row when it is not a run record. */
export function parseStoredRun(row: { seq: string; run_id: string; record: string }): RunRecord {
  const parsed = runRecordSchema.safeParse(JSON.parse(row.record));
  if (!parsed.success)
    throw new Error(`stored record seq ${row.seq} (run ${row.run_id}) is not a valid run record`);
  return parsed.data;
}

import { sql, type Kysely } from 'kysely';

// Frozen in time: the alert kinds as they were when 010 shipped. (009 is another
// workstream's number; the migrations are applied in name order either way.)

const KINDS_BEFORE = ['failing', 'stale', 'reminder', 'recovered', 'heartbeat'];
const KINDS = [...KINDS_BEFORE, 'unreviewed'];

function kindCheck(kinds: string[]) {
  return sql`check (kind in (${sql.join(kinds.map((kind) => sql.lit(kind)))}))`;
}

/** `unreviewed`: a failed run left without a sign-off past review.maxUnreviewed, alerted once per run. */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table alert_events drop constraint alert_events_kind_check`.execute(db);
  await sql`alter table alert_events add constraint alert_events_kind_check ${kindCheck(KINDS)}`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table alert_events drop constraint alert_events_kind_check`.execute(db);
  await sql`alter table alert_events add constraint alert_events_kind_check ${kindCheck(KINDS_BEFORE)}`.execute(
    db,
  );
}

import { sql, type Kysely } from 'kysely';

// Frozen in time: this file describes the schema as it was when 005 shipped. It
// must not import table types or constants from the rest of src/, which move on.

/** The alert log tables, which 002 guarded against UPDATE only. */
const ALERT_TABLES = ['alert_events', 'alert_attempts'];

/**
 * The alert log is evidence too: deleting an attempt row made `alerts deliver`
 * send an already-delivered alert again. DELETE and TRUNCATE are refused as on
 * the run tables (the function comes from 003); `evidence purge`, which removes
 * the alerts about the runs it purges, passes with its transaction-local
 * `restore_drill.purge = 'on'`.
 */
export async function up(db: Kysely<any>): Promise<void> {
  for (const table of ALERT_TABLES) {
    await sql`create trigger ${sql.id(`${table}_no_delete`)} before delete on ${sql.table(table)}
      for each statement execute function restore_drill_refuse_delete()`.execute(db);
    await sql`create trigger ${sql.id(`${table}_no_truncate`)} before truncate on ${sql.table(table)}
      for each statement execute function restore_drill_refuse_delete()`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ALERT_TABLES) {
    await sql`drop trigger ${sql.id(`${table}_no_truncate`)} on ${sql.table(table)}`.execute(db);
    await sql`drop trigger ${sql.id(`${table}_no_delete`)} on ${sql.table(table)}`.execute(db);
  }
}

import { sql, type Kysely } from 'kysely';

// Frozen in time: the alert log as it was when 002 shipped. It must not import
// table types or constants from the rest of src/, which move on.

const KINDS = ['failing', 'stale', 'reminder', 'recovered', 'heartbeat'];

function oneOf(column: string, values: string[]) {
  return sql`${sql.ref(column)} in (${sql.join(values.map((value) => sql.lit(value)))})`;
}

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('alert_events')
    .addColumn('id', 'bigint', (col) => col.generatedAlwaysAsIdentity().primaryKey())
    // One alert per change of state: every replica deciding it inserts the same key.
    .addColumn('dedupe_key', sql`text collate "C"`, (col) => col.notNull().unique())
    .addColumn('kind', 'text', (col) => col.notNull().check(oneOf('kind', KINDS)))
    .addColumn('drill', 'text')
    .addColumn('problem_key', sql`text collate "C"`)
    .addColumn('run_id', sql`text collate "C"`, (col) => col.references('run_starts.run_id'))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .addColumn('channels', 'text', (col) => col.notNull())
    .addColumn('message', 'text', (col) => col.notNull())
    .execute();
  await db.schema
    .createIndex('alert_events_drill_id_idx')
    .on('alert_events')
    .columns(['drill', 'id'])
    .execute();
  await db.schema
    .createIndex('alert_events_problem_key_idx')
    .on('alert_events')
    .column('problem_key')
    .execute();
  await db.schema
    .createIndex('alert_events_created_at_idx')
    .on('alert_events')
    .column('created_at')
    .execute();

  await db.schema
    .createTable('alert_attempts')
    .addColumn('id', 'bigint', (col) => col.generatedAlwaysAsIdentity().primaryKey())
    .addColumn('event_id', 'bigint', (col) => col.notNull().references('alert_events.id'))
    .addColumn('channel', 'text', (col) => col.notNull())
    .addColumn('attempt', 'integer', (col) => col.notNull().check(sql`attempt >= 1`))
    .addColumn('started_at', 'timestamptz', (col) => col.notNull())
    .addColumn('duration_ms', 'double precision', (col) => col.notNull())
    .addColumn('ok', 'boolean', (col) => col.notNull())
    .addColumn('permanent', 'boolean', (col) => col.notNull())
    .addColumn('detail', 'text', (col) => col.notNull())
    .addColumn('retry_after_ms', 'integer')
    .addColumn('host', 'text', (col) => col.notNull())
    .addColumn('pid', 'integer', (col) => col.notNull())
    // Two senders of the same attempt cannot both record it.
    .addUniqueConstraint('alert_attempts_event_channel_attempt_unique', [
      'event_id',
      'channel',
      'attempt',
    ])
    .execute();

  // Append-only, like the evidence: the function comes from 001.
  for (const table of ['alert_events', 'alert_attempts']) {
    await sql`create trigger ${sql.id(`${table}_append_only`)} before update on ${sql.table(table)}
      for each statement execute function restore_drill_refuse_update()`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('alert_attempts').execute();
  await db.schema.dropTable('alert_events').execute();
}

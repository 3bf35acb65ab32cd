import { sql, type Kysely } from 'kysely';

// Frozen in time: this file describes the schema as it was when 001 shipped. It
// must not import table types or constants from the rest of src/, which move on.

const VERDICTS = ['passed', 'failed', 'error', 'timed_out', 'aborted'];
const TRIGGERS = ['manual', 'schedule', 'replay'];

function oneOf(column: string, values: string[]) {
  return sql`${sql.ref(column)} in (${sql.join(values.map((value) => sql.lit(value)))})`;
}

/** Run ids compare bytewise ("C"), so a prefix lookup (`like 'ab12%'`) can use the index. */
const runIdType = sql`text collate "C"`;

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('run_starts')
    .addColumn('run_id', runIdType, (col) => col.primaryKey())
    .addColumn('drill', 'text', (col) => col.notNull())
    .addColumn('trigger', 'text', (col) => col.notNull().check(oneOf('trigger', TRIGGERS)))
    .addColumn('scheduled_for', 'timestamptz')
    .addColumn('replay_of', 'text')
    .addColumn('started_at', 'timestamptz', (col) => col.notNull())
    .addColumn('host', 'text', (col) => col.notNull())
    .addColumn('pid', 'integer', (col) => col.notNull())
    .addColumn('version', 'text', (col) => col.notNull())
    .addColumn('config_hash', 'text', (col) => col.notNull())
    .addColumn('scratch_dir', 'text')
    // The slot claim; NULL scheduled_for (manual runs) never conflicts.
    .addUniqueConstraint('run_starts_slot_unique', ['drill', 'scheduled_for'])
    .execute();

  await db.schema
    .createTable('run_results')
    .addColumn('seq', 'bigint', (col) => col.generatedAlwaysAsIdentity().primaryKey())
    .addColumn('run_id', runIdType, (col) => col.notNull().unique().references('run_starts.run_id'))
    .addColumn('drill', 'text', (col) => col.notNull())
    .addColumn('verdict', 'text', (col) => col.notNull().check(oneOf('verdict', VERDICTS)))
    .addColumn('started_at', 'timestamptz', (col) => col.notNull())
    .addColumn('finished_at', 'timestamptz', (col) => col.notNull())
    .addColumn('set_path', 'text')
    .addColumn('files', 'integer', (col) => col.notNull())
    .addColumn('bytes', 'bigint', (col) => col.notNull())
    .addColumn('checks_failed', 'integer', (col) => col.notNull())
    .addColumn('restore_ms', 'double precision', (col) => col.notNull())
    .addColumn('verify_ms', 'double precision', (col) => col.notNull())
    .addColumn('total_ms', 'double precision', (col) => col.notNull())
    .addColumn('record', 'text', (col) => col.notNull())
    // Unique links: even a writer that skipped the chain lock cannot fork the chain.
    .addColumn('prev_hash', 'text', (col) =>
      col
        .notNull()
        .unique()
        .check(sql`prev_hash ~ '^[0-9a-f]{64}$'`),
    )
    .addColumn('record_hash', 'text', (col) =>
      col
        .notNull()
        .unique()
        .check(sql`record_hash ~ '^[0-9a-f]{64}$'`),
    )
    .execute();
  await db.schema
    .createIndex('run_results_drill_started_at_idx')
    .on('run_results')
    .columns(['drill', 'started_at'])
    .execute();
  await db.schema
    .createIndex('run_results_started_at_idx')
    .on('run_results')
    .column('started_at')
    .execute();
  await db.schema
    .createIndex('run_results_verdict_idx')
    .on('run_results')
    .column('verdict')
    .execute();

  await db.schema
    .createTable('run_items')
    .addColumn('run_id', runIdType, (col) => col.notNull().references('run_starts.run_id'))
    .addColumn('path', sql`text collate "C"`, (col) => col.notNull())
    .addColumn('size', 'bigint', (col) => col.notNull())
    .addColumn('sha256', 'text')
    .execute();
  // Not unique: a restore that lists a path twice must still be recorded as it happened.
  await db.schema
    .createIndex('run_items_run_id_path_idx')
    .on('run_items')
    .columns(['run_id', 'path'])
    .execute();

  // Append-only, enforced by the database itself: evidence rows are never updated.
  await sql`
    create function restore_drill_refuse_update() returns trigger language plpgsql as $$
    begin
      raise exception 'evidence is append-only: % rows are never updated', tg_table_name
        using errcode = 'restrict_violation';
    end
    $$`.execute(db);
  for (const table of ['run_starts', 'run_results', 'run_items']) {
    await sql`create trigger ${sql.id(`${table}_append_only`)} before update on ${sql.table(table)}
      for each statement execute function restore_drill_refuse_update()`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('run_items').execute();
  await db.schema.dropTable('run_results').execute();
  await db.schema.dropTable('run_starts').execute();
  await sql`drop function restore_drill_refuse_update()`.execute(db);
}

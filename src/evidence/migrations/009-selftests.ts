import { sql, type Kysely } from 'kysely';

// Frozen in time: this file describes the schema as it was when 009 shipped. It
// must not import table types or constants from the rest of src/, which move on.

const VERDICTS = ['passed', 'failed', 'error'];

/**
 * Selftest records: which kinds of damage a drill's checks caught. A selftest is a
 * record of the SAME hash chain as runs and reviews (seq from run_results' sequence,
 * prev_hash the record_hash of the record before, whichever table holds it); run_id is
 * the selftest's own id. Append-only: UPDATE always refused (the function comes from
 * 001), DELETE and TRUNCATE only inside `evidence purge` (the function comes from 003).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('selftests')
    .addColumn('seq', 'bigint', (col) => col.primaryKey())
    .addColumn('run_id', sql`text collate "C"`, (col) => col.notNull().unique())
    .addColumn('drill', 'text', (col) => col.notNull())
    .addColumn('verdict', 'text', (col) =>
      col.notNull().check(sql`verdict in (${sql.join(VERDICTS.map((value) => sql.lit(value)))})`),
    )
    .addColumn('started_at', 'timestamptz', (col) => col.notNull())
    .addColumn('undetected', 'integer', (col) => col.notNull())
    .addColumn('record', 'text', (col) => col.notNull())
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
  await sql`
    do $$
    begin
      execute format('alter table selftests alter column seq set default nextval(%L)',
        pg_get_serial_sequence('run_results', 'seq'));
    end
    $$`.execute(db);
  await sql`create index selftests_drill_idx on selftests (drill, seq)`.execute(db);
  await sql`create trigger selftests_no_update before update on selftests
    for each statement execute function restore_drill_refuse_update()`.execute(db);
  await sql`create trigger selftests_no_delete before delete on selftests
    for each statement execute function restore_drill_refuse_delete()`.execute(db);
  await sql`create trigger selftests_no_truncate before truncate on selftests
    for each statement execute function restore_drill_refuse_delete()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('selftests').execute();
}

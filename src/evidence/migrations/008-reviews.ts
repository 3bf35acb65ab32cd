import { sql, type Kysely } from 'kysely';

// Frozen in time: this file describes the schema as it was when 008 shipped. It
// must not import table types or constants from the rest of src/, which move on.

const DECISIONS = ['accepted', 'remediation', 'risk-accepted'];

/**
 * Sign-off records: who reviewed a run, when, and what was decided. A review is
 * a record of the SAME hash chain as the runs: its seq comes from run_results'
 * own sequence, so the two tables interleave in one order, and each record's
 * prev_hash is the record_hash of the record before it, whichever table holds
 * it. No foreign key to the run: a purge may remove a run whose later review
 * stays in the chain. Append-only like the runs: UPDATE always refused (the function comes from 001), DELETE
 * and TRUNCATE only inside `evidence purge` (the function comes from 003).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('run_reviews')
    .addColumn('seq', 'bigint', (col) => col.primaryKey())
    .addColumn('run_id', sql`text collate "C"`, (col) => col.notNull())
    .addColumn('reviewed_at', 'timestamptz', (col) => col.notNull())
    .addColumn('reviewer', 'text', (col) => col.notNull())
    .addColumn('decision', 'text', (col) =>
      col.notNull().check(sql`decision in (${sql.join(DECISIONS.map((value) => sql.lit(value)))})`),
    )
    .addColumn('note', 'text', (col) => col.notNull())
    .addColumn('ticket', 'text')
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
  // One numbering for the whole chain: a review takes its seq from the runs' identity sequence.
  await sql`
    do $$
    begin
      execute format('alter table run_reviews alter column seq set default nextval(%L)',
        pg_get_serial_sequence('run_results', 'seq'));
    end
    $$`.execute(db);
  await sql`create index run_reviews_run_id_idx on run_reviews (run_id, seq)`.execute(db);
  await sql`create trigger run_reviews_no_update before update on run_reviews
    for each statement execute function restore_drill_refuse_update()`.execute(db);
  await sql`create trigger run_reviews_no_delete before delete on run_reviews
    for each statement execute function restore_drill_refuse_delete()`.execute(db);
  await sql`create trigger run_reviews_no_truncate before truncate on run_reviews
    for each statement execute function restore_drill_refuse_delete()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('run_reviews').execute();
}

import { sql, type Kysely } from 'kysely';

// Frozen in time: the skipped-slot log as it was when 004 shipped. It must not
// import table types or constants from the rest of src/, which move on.

const REASONS = ['overlap', 'queued', 'missed', 'shutdown'];

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('run_skips')
    .addColumn('id', 'bigint', (col) => col.generatedAlwaysAsIdentity().primaryKey())
    .addColumn('drill', 'text', (col) => col.notNull())
    .addColumn('scheduled_for', 'timestamptz', (col) => col.notNull())
    .addColumn('reason', 'text', (col) =>
      col.notNull().check(sql`reason in (${sql.join(REASONS.map((r) => sql.lit(r)))})`),
    )
    // The run still going when the slot came (reason 'overlap'). No foreign key: a purge may remove that run's evidence.
    .addColumn('blocking_run_id', sql`text collate "C"`)
    .addColumn('detail', 'text', (col) => col.notNull())
    .addColumn('recorded_at', 'timestamptz', (col) => col.notNull())
    .addColumn('host', 'text', (col) => col.notNull())
    .addColumn('pid', 'integer', (col) => col.notNull())
    // One outcome per slot across replicas: a skip, like a start, is written once.
    .addUniqueConstraint('run_skips_slot_unique', ['drill', 'scheduled_for'])
    .execute();
  await db.schema
    .createIndex('run_skips_scheduled_for_idx')
    .on('run_skips')
    .column('scheduled_for')
    .execute();
  // Append-only, like the evidence: the functions come from 001 (update) and 003 (delete, unless a purge).
  await sql`create trigger run_skips_append_only before update on run_skips
    for each statement execute function restore_drill_refuse_update()`.execute(db);
  await sql`create trigger run_skips_no_delete before delete on run_skips
    for each statement execute function restore_drill_refuse_delete()`.execute(db);
  await sql`create trigger run_skips_no_truncate before truncate on run_skips
    for each statement execute function restore_drill_refuse_delete()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('run_skips').execute();
}

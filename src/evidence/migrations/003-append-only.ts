import { sql, type Kysely } from 'kysely';

// Frozen in time: this file describes the schema as it was when 003 shipped. It
// must not import table types or constants from the rest of src/, which move on.

const EVIDENCE_TABLES = ['run_starts', 'run_results', 'run_items'];

/**
 * Append-only evidence, enforced by the database: 001 refuses UPDATE; this
 * refuses DELETE and TRUNCATE. The one way to remove evidence is
 * `restore-drill evidence purge`, which sets the transaction-local setting
 * `restore_drill.purge = 'on'` and records itself in `evidence_purges` in the
 * same transaction. The setting is a guard against accidents and stray tools,
 * not against a superuser; the hash chain is what catches those.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function restore_drill_refuse_delete() returns trigger language plpgsql as $$
    begin
      if tg_op = 'DELETE' and coalesce(current_setting('restore_drill.purge', true), '') = 'on' then
        return null;
      end if;
      raise exception 'evidence is append-only: % on % is refused; old evidence is removed only by restore-drill evidence purge', tg_op, tg_table_name
        using errcode = 'restrict_violation';
    end
    $$`.execute(db);
  for (const table of EVIDENCE_TABLES) {
    await sql`create trigger ${sql.id(`${table}_no_delete`)} before delete on ${sql.table(table)}
      for each statement execute function restore_drill_refuse_delete()`.execute(db);
    await sql`create trigger ${sql.id(`${table}_no_truncate`)} before truncate on ${sql.table(table)}
      for each statement execute function restore_drill_refuse_delete()`.execute(db);
  }

  // The purge log: where the chain was cut, and the hashes that let `verify` pass across the cut.
  await db.schema
    .createTable('evidence_purges')
    .addColumn('id', 'bigint', (col) => col.generatedAlwaysAsIdentity().primaryKey())
    .addColumn('purged_at', 'timestamptz', (col) => col.notNull())
    // Evidence of runs started before this was asked to go.
    .addColumn('cutoff', 'timestamptz', (col) => col.notNull())
    .addColumn('first_seq', 'bigint', (col) => col.notNull())
    .addColumn('last_seq', 'bigint', (col) => col.notNull())
    .addColumn('records', 'bigint', (col) => col.notNull())
    .addColumn('items', 'bigint', (col) => col.notNull())
    // prev_hash of the first purged record: the previous purge's anchor, or 64 zeros.
    .addColumn('from_hash', 'text', (col) => col.notNull().check(sql`from_hash ~ '^[0-9a-f]{64}$'`))
    // record_hash of the last purged record: the prev_hash the first kept record must carry.
    .addColumn('anchor_hash', 'text', (col) =>
      col
        .notNull()
        .unique()
        .check(sql`anchor_hash ~ '^[0-9a-f]{64}$'`),
    )
    .addColumn('host', 'text', (col) => col.notNull())
    .addColumn('version', 'text', (col) => col.notNull())
    .addCheckConstraint('evidence_purges_range', sql`first_seq <= last_seq and records > 0`)
    .execute();
  await sql`
    create function restore_drill_refuse_purge_change() returns trigger language plpgsql as $$
    begin
      raise exception 'the evidence purge log is append-only: % on % is refused', tg_op, tg_table_name
        using errcode = 'restrict_violation';
    end
    $$`.execute(db);
  await sql`create trigger evidence_purges_append_only before update or delete on evidence_purges
    for each statement execute function restore_drill_refuse_purge_change()`.execute(db);
  await sql`create trigger evidence_purges_no_truncate before truncate on evidence_purges
    for each statement execute function restore_drill_refuse_purge_change()`.execute(db);

  // Reports count runs per drill over a period: an index-only scan instead of reading every record's row.
  await sql`create index run_results_period_idx on run_results (started_at) include (drill, verdict, restore_ms, verify_ms)`.execute(
    db,
  );
  // Reports look up each drill's newest pass and newest failure, however old: keep those lookups off a scan.
  await sql`create index run_results_drill_passed_idx on run_results (drill, started_at) where verdict = 'passed'`.execute(
    db,
  );
  await sql`create index run_results_drill_not_passed_idx on run_results (drill, started_at) where verdict <> 'passed'`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index run_results_drill_not_passed_idx`.execute(db);
  await sql`drop index run_results_period_idx`.execute(db);
  await sql`drop index run_results_drill_passed_idx`.execute(db);
  await db.schema.dropTable('evidence_purges').execute();
  await sql`drop function restore_drill_refuse_purge_change()`.execute(db);
  for (const table of EVIDENCE_TABLES) {
    await sql`drop trigger ${sql.id(`${table}_no_truncate`)} on ${sql.table(table)}`.execute(db);
    await sql`drop trigger ${sql.id(`${table}_no_delete`)} on ${sql.table(table)}`.execute(db);
  }
  await sql`drop function restore_drill_refuse_delete()`.execute(db);
}

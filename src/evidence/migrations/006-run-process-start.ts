import type { Kysely } from 'kysely';

// Frozen in time: what 006 added when it shipped.

/**
 * The identity of a run's process beyond its pid: start time in clock ticks since boot and the
 * boot id, so a pid reused by another program after a crash is not taken for the run's process.
 * Null for runs recorded before, or on hosts without /proc.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('run_starts').addColumn('process_start', 'bigint').execute();
  await db.schema.alterTable('run_starts').addColumn('boot_id', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('run_starts').dropColumn('boot_id').execute();
  await db.schema.alterTable('run_starts').dropColumn('process_start').execute();
}

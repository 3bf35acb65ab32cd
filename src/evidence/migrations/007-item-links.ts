import type { Kysely } from 'kysely';

// Frozen in time: what 007 added when it shipped.

/**
 * Symbolic links restored as links become run items: `link_target` holds the link's target
 * (escaped as names are); null for regular files, and for every item recorded before.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('run_items').addColumn('link_target', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('run_items').dropColumn('link_target').execute();
}

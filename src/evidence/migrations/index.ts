import { createHash } from 'node:crypto';
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { EvidenceError, reasonOf } from '../errors.js';
import * as m001 from './001-initial.js';
import * as m002 from './002-alerts.js';
import * as m003 from './003-append-only.js';
import * as m004 from './004-skips.js';
import * as m005 from './005-append-only-alerts.js';
import * as m006 from './006-run-process-start.js';
import * as m007 from './007-item-links.js';
import * as m008 from './008-reviews.js';
import * as m009 from './009-selftests.js';
import * as m010 from './010-unreviewed-alerts.js';

/**
 * Every migration, in order, listed here rather than read from a folder: the
 * published package runs from dist/ (or a bundle) where no migrations folder
 * may exist. Add a line per migration; never edit or rename a shipped one.
 */
export const migrations: Readonly<Record<string, Migration>> = {
  '001-initial': m001,
  '002-alerts': m002,
  '003-append-only': m003,
  '004-skips': m004,
  '005-append-only-alerts': m005,
  '006-run-process-start': m006,
  '007-item-links': m007,
  '008-reviews': m008,
  '009-selftests': m009,
  '010-unreviewed-alerts': m010,
};

/**
 * The variant name of the build's seed of a new evidence store with exactly these migrations
 * applied (scripts/make-pglite-seed.ts): a version with other migrations never loads it.
 */
export function migratedSeedVariant(): string {
  const names = Object.keys(migrations).join('\n');
  return `evidence-${createHash('sha256').update(names).digest('hex').slice(0, 12)}`;
}

/** Hands the static list to kysely's Migrator. */
export const staticMigrationProvider: MigrationProvider = {
  getMigrations: async () => ({ ...migrations }),
};

/** Which migrations a `migrateToLatest` call applied (empty when the schema was current). */
export interface MigrationOutcome {
  applied: string[];
}

/**
 * A migration failed. PostgreSQL runs DDL in transactions, so kysely rolls the
 * whole batch back: the schema stays as it was before the call.
 */
export class MigrationError extends EvidenceError {
  constructor(
    readonly migrationName: string | undefined,
    cause: unknown,
  ) {
    const what =
      migrationName === undefined
        ? 'evidence database migration'
        : `evidence database migration ${migrationName}`;
    super('migration-failed', `${what} failed: ${reasonOf(cause)}`, { cause });
    this.name = 'MigrationError';
  }
}

/**
 * Brings the evidence schema up to date. Safe to call from several processes at
 * once: kysely's migrator takes a lock in the database. Throws `MigrationError`
 * naming the failed migration.
 */
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationOutcome> {
  if (await schemaIsCurrent(db)) return { applied: [] };
  const migrator = new Migrator({ db, provider: staticMigrationProvider });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results.find((result) => result.status === 'Error');
    throw new MigrationError(failed?.migrationName, error);
  }
  return {
    applied: results
      .filter((result) => result.status === 'Success')
      .map((result) => result.migrationName),
  };
}

/**
 * One cheap query instead of the migrator's table checks and lock on every open: true when the
 * applied migrations are exactly this version's. Anything else (no table yet, a migration missing,
 * one this version does not know) goes through kysely's Migrator, which applies or refuses as before.
 */
async function schemaIsCurrent(db: Kysely<any>): Promise<boolean> {
  let applied: Set<string>;
  try {
    const { rows } = await sql<{ name: string }>`select name from kysely_migration`.execute(db);
    applied = new Set(rows.map((row) => row.name));
  } catch {
    return false;
  }
  const known = Object.keys(migrations);
  return applied.size === known.length && known.every((name) => applied.has(name));
}

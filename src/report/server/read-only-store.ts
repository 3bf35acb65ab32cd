import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from '../../evidence/node-postgres.js';
import { redactor } from '../../model/redact.js';
import type { Database } from '../../evidence/database.js';
import { EvidenceError, reasonOf } from '../../evidence/errors.js';
import {
  describePostgresUrl,
  openEvidenceStore,
  type EvidenceStore,
  type OpenEvidenceStoreOptions,
} from '../../evidence/open-store.js';

// The web view's store: opened like every other command's (migrations included,
// so a fresh database serves an empty view), then made read-only by PostgreSQL
// itself, so no query the server runs, by mistake or by a bug, can write.

const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Opens the evidence store for reading only. On PostgreSQL the schema is brought
 * up to date on one pool, which is closed, and the server reads through another
 * whose every session starts with `default_transaction_read_only = on`. The
 * embedded PGlite is one session: the setting is made on it once. Either way,
 * an INSERT, UPDATE or DELETE fails with "cannot execute … in a read-only transaction".
 */
export async function openReadOnlyStore(options: OpenEvidenceStoreOptions): Promise<EvidenceStore> {
  const store = await openEvidenceStore(options);
  if (store.dialect === 'pglite') {
    try {
      await sql`set default_transaction_read_only = on`.execute(store.db);
      await assertReadOnly(store.db);
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }
  await store.close();
  const url = options.url as string;
  const target = describePostgresUrl(url);
  const pool = new pg.Pool({
    connectionString: url,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    options: '-c default_transaction_read_only=on',
  });
  pool.on('error', (error) =>
    options.log.warn(
      { database: target, err: redactor.redact(reasonOf(error)) },
      'evidence database connection lost',
    ),
  );
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    await assertReadOnly(db);
  } catch (error) {
    await db.destroy().catch(() => {});
    if (error instanceof EvidenceError) throw error;
    throw new EvidenceError(
      'open-failed',
      `cannot connect to evidence database ${target}: ${redactor.redact(reasonOf(error))}`,
      { cause: error },
    );
  }
  let closed = false;
  return {
    db,
    dialect: 'postgres',
    close: async () => {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  };
}

/** Refuses to go on unless the session really is read-only (a pooler could drop startup options). */
async function assertReadOnly(db: Kysely<Database>): Promise<void> {
  const { rows } = await sql<{
    default_transaction_read_only: string;
  }>`show default_transaction_read_only`.execute(db);
  if (rows[0]?.default_transaction_read_only !== 'on') {
    throw new EvidenceError(
      'open-failed',
      'the evidence database session could not be made read-only (default_transaction_read_only is not on); the web view will not serve from a writable session',
    );
  }
}

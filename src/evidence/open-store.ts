import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type { PoolConfig } from 'pg';
import pg from './node-postgres.js';
import { redactor } from '../model/redact.js';
import type { Logger } from '../log/logger.js';
import type { Database } from './database.js';
import { registerEvidenceSync, syncDataDir, walSyncer } from './durability.js';
import { acquireEmbeddedLock, type HeldLock } from './embedded-lock.js';
import { EvidenceError, reasonOf } from './errors.js';
import { MigrationError, migrateToLatest, migratedSeedVariant } from './migrations/index.js';
import { openPglite } from './pglite-seed.js';
import { refreshStatisticsIfGrown } from './statistics.js';

/** Which engine holds the evidence. */
export type EvidenceDialect = 'pglite' | 'postgres';

export interface OpenEvidenceStoreOptions {
  /** A postgres:// URL; when absent, the embedded PGlite database under `embeddedDir`. */
  url?: string | undefined;
  /** Folder of the embedded database (`<embeddedDir>/pgdata`) and its lock file; created when missing. */
  embeddedDir: string;
  log: Logger;
}

/** An open evidence store, migrated to the latest schema. */
export interface EvidenceStore {
  db: Kysely<Database>;
  dialect: EvidenceDialect;
  /** Closes connections (and, embedded, the database and its lock). Idempotent. */
  close(): Promise<void>;
}

/** How long to wait for a PostgreSQL server before calling it unreachable. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Opens the evidence store and applies pending migrations. With `url`, a pool on
 * that PostgreSQL server; without, PGlite in `<embeddedDir>/pgdata`, held by a
 * lock file so a second process gets a clear error instead of silent data loss.
 * Both go through kysely's own PostgresDialect over node-postgres, so every
 * query runs the same code on either engine.
 */
export async function openEvidenceStore(options: OpenEvidenceStoreOptions): Promise<EvidenceStore> {
  return options.url === undefined
    ? openEmbedded(options.embeddedDir, options.log)
    : openPostgres(options.url, options.log);
}

async function openPostgres(url: string, log: Logger): Promise<EvidenceStore> {
  const target = describePostgresUrl(url);
  const pool = new pg.Pool({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  // An idle client losing its server emits on the pool; unhandled, it would end the process.
  pool.on('error', (error) =>
    log.warn(
      { database: target, err: redactor.redact(reasonOf(error)) },
      'evidence database connection lost',
    ),
  );
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    await sql`select 1`.execute(db);
  } catch (error) {
    await db.destroy().catch(() => {});
    throw new EvidenceError(
      'open-failed',
      `cannot connect to evidence database ${target}: ${redactor.redact(reasonOf(error))}`,
      { cause: error },
    );
  }
  try {
    const { applied } = await migrateToLatest(db);
    log.debug({ database: target, applied }, 'evidence store open');
  } catch (error) {
    await db.destroy().catch(() => {});
    throw error;
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

/**
 * `postgres://user@host:port/database`, never the password. The password is
 * also registered with the redactor, so no later message can carry it either.
 */
export function describePostgresUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new EvidenceError(
      'open-failed',
      'database.url is not a valid URL (not shown, it may hold a password); expected postgres://user:password@host:port/database',
    );
  }
  if (parsed.password !== '') redactor.add(decodeURIComponent(parsed.password), '****');
  const hostParam = parsed.searchParams.get('host');
  const host =
    parsed.hostname ||
    (hostParam?.startsWith('/') ? `(socket ${hostParam})` : hostParam) ||
    'localhost';
  const port = parsed.port || parsed.searchParams.get('port') || '5432';
  const user = decodeURIComponent(parsed.username);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || user || 'postgres';
  return `${parsed.protocol}//${user === '' ? '' : `${user}@`}${host}:${port}/${database}`;
}

async function openEmbedded(embeddedDir: string, log: Logger): Promise<EvidenceStore> {
  const root = resolve(embeddedDir);
  const dataDir = join(root, 'pgdata');
  let lock: HeldLock;
  try {
    await mkdir(root, { recursive: true });
    lock = await acquireEmbeddedLock({ lockPath: join(root, 'lock'), dataDir, log });
  } catch (error) {
    if (error instanceof EvidenceError) throw error;
    throw new EvidenceError(
      'open-failed',
      `cannot open evidence database ${dataDir}: ${reasonOf(error)}`,
      { cause: error },
    );
  }
  let lite: PGlite | undefined;
  let db: Kysely<Database> | undefined;
  // Files changed from here on are synced at close (less a margin for coarse mtimes).
  const openedAt = Date.now() - 2000;
  try {
    // PGlite loads only for the embedded store: a PostgreSQL user never pays for it.
    const { createPgConfig } = await import('@electric-sql/pglite/node-postgres');
    // A new store starts from the build's migrated seed: its migrations cost a first run ~0.6 s.
    lite = await openPglite(dataDir, {
      seedVariants: [migratedSeedVariant()],
      onSeedFailed: (error) =>
        log.warn(
          { dataDir, err: reasonOf(error) },
          'PGlite seed not loaded; trying the next seed or initdb',
        ),
    });
    // PGlite serves one connection; its pg config says so (poolSize 1). Idle eviction
    // would only churn that one connection, so it is kept for the store's life.
    const pool = new pg.Pool({ ...createPgConfig(lite), idleTimeoutMillis: 0 } as PoolConfig);
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    const { applied } = await migrateToLatest(db);
    registerEvidenceSync(db, walSyncer(dataDir));
    log.debug({ dataDir, applied }, 'evidence store open');
  } catch (error) {
    await db?.destroy().catch(() => {});
    await lite?.close().catch(() => {});
    lock.release();
    if (error instanceof MigrationError) throw error;
    throw new EvidenceError(
      'open-failed',
      `cannot open evidence database ${dataDir}: ${reasonOf(error)}`,
      { cause: error },
    );
  }
  const openDb = db;
  const openLite = lite;
  let closed = false;
  return {
    db: openDb,
    dialect: 'pglite',
    close: async () => {
      if (closed) return;
      closed = true;
      try {
        // Statistics are gathered at close, once the command has done its work.
        await refreshStatisticsIfGrown(openDb).catch((error: unknown) =>
          log.warn({ dataDir, err: reasonOf(error) }, 'evidence store statistics not refreshed'),
        );
        await openDb.destroy();
        await openLite.close();
        // PGlite's shutdown checkpoint wrote the data pages; until synced they would
        // outlive a WAL segment that PostgreSQL recycles.
        const synced = await syncDataDir(dataDir, openedAt);
        log.debug({ dataDir, synced }, `evidence synced at close: ${synced} files`);
      } finally {
        lock.release();
      }
    },
  };
}

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import {
  openEvidenceStore,
  type EvidenceDialect,
  type EvidenceStore,
} from '../../src/evidence/open-store.js';
import { silentLogger } from '../../src/log/logger.js';
import { createTestDatabase, createTestEmbeddedDir } from './test-database.js';

/**
 * Time allowed for hooks that create or open stores: the most any test may take
 * (the PGlite template is built once, in global setup, before any test starts).
 */
export const SLOW_STORE_MS = 60_000;

/** A fresh home for an evidence store on one engine. */
export interface StorePlace {
  /** Opens (and migrates) the store, through the production code path. */
  open(): Promise<EvidenceStore>;
  /** Runs raw SQL while no store is open (to set up a broken schema, say). */
  execRaw(sqlText: string): Promise<void>;
  cleanup(): Promise<void>;
}

/** An engine the evidence tests run against: the same suite runs on each. */
export interface Engine {
  dialect: EvidenceDialect;
  /**
   * A new home. On PGlite it holds a new store as the build's seed makes it (every migration
   * applied), or with `empty`, initdb's database; on PostgreSQL a database with no schema.
   */
  prepare(options?: { empty?: boolean }): Promise<StorePlace>;
}

export const pgliteEngine: Engine = {
  dialect: 'pglite',
  async prepare(options = {}) {
    const { dir, cleanup } = await createTestEmbeddedDir(options.empty ? 'empty' : 'store');
    return {
      open: () => openEvidenceStore({ embeddedDir: dir, log: silentLogger() }),
      execRaw: async (sqlText) => {
        const lite = await PGlite.create({ dataDir: join(dir, 'pgdata') });
        try {
          await lite.exec(sqlText);
        } finally {
          await lite.close();
        }
      },
      cleanup,
    };
  },
};

export const postgresEngine: Engine = {
  dialect: 'postgres',
  async prepare() {
    const url = await createTestDatabase();
    // Never used with a URL, but the option is required: make sure nothing lands there.
    const unused = await mkdtemp(join(tmpdir(), 'restore-drill-unused-'));
    return {
      open: () =>
        openEvidenceStore({ url, embeddedDir: join(unused, 'embedded'), log: silentLogger() }),
      execRaw: async (sqlText) => {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          await client.query(sqlText);
        } finally {
          await client.end();
        }
      },
      cleanup: () => rm(unused, { recursive: true, force: true }),
    };
  },
};

/** Both engines, for `describe.each`. */
export const engines: Array<[EvidenceDialect, Engine]> = [
  ['pglite', pgliteEngine],
  ['postgres', postgresEngine],
];

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  openEvidenceStore,
  type EvidenceDialect,
  type EvidenceStore,
} from '../../src/evidence/open-store.js';
import { silentLogger } from '../../src/log/logger.js';
import { createRunLeases, type RunLeases } from '../../src/schedule/run-leases.js';
import { createTestDatabase, createTestEmbeddedDir } from './test-database.js';

/** An open evidence store for a test file, with what the scheduler needs beside it. */
export interface TestStore {
  dialect: EvidenceDialect;
  store: EvidenceStore;
  /** The PostgreSQL URL; undefined on PGlite. */
  url: string | undefined;
  /** New run leases on this store's engine (closed by `cleanup`). */
  leases(): RunLeases;
  cleanup(): Promise<void>;
}

/** A fresh store on one engine: a copy of the PGlite template, or a new database on the run's PostgreSQL server. */
export async function openTestStore(dialect: EvidenceDialect): Promise<TestStore> {
  const made: RunLeases[] = [];
  let url: string | undefined;
  let dir: string;
  let removeDir: () => Promise<void>;
  if (dialect === 'pglite') {
    const embedded = await createTestEmbeddedDir();
    dir = embedded.dir;
    removeDir = embedded.cleanup;
  } else {
    url = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'restore-drill-unused-'));
    removeDir = () => rm(dir, { recursive: true, force: true });
  }
  const store = await openEvidenceStore({ url, embeddedDir: dir, log: silentLogger() });
  return {
    dialect,
    store,
    url,
    leases() {
      const leases = createRunLeases({ dialect, url, log: silentLogger() });
      made.push(leases);
      return leases;
    },
    async cleanup() {
      for (const leases of made) await leases.close();
      await store.close();
      await removeDir();
    },
  };
}

export const dialects: EvidenceDialect[] = ['pglite', 'postgres'];

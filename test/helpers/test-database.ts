import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { createEmbeddedDir, type PgliteTemplateKind } from './pglite-template.js';
import { createDatabaseOn } from './postgres-server.js';

/**
 * A new, empty database on the run's PostgreSQL server (started by global
 * setup), for one test file or one test; returns its URL. Databases go away
 * with the server at the end of the run.
 */
export async function createTestDatabase(): Promise<string> {
  return createDatabaseOn(inject('postgres'), `test_${randomBytes(8).toString('hex')}`);
}

/**
 * A fresh embedded-store folder, removed by `cleanup`: a copy of the run's new-store PGlite
 * data folder, or with `empty`, of initdb's (no schema: migrations from nothing, a plain dump).
 */
export function createTestEmbeddedDir(
  kind: PgliteTemplateKind = 'store',
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  return createEmbeddedDir(inject('pgliteTemplateRoot'), kind);
}

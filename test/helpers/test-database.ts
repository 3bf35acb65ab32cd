import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { createEmbeddedDir } from './pglite-template.js';
import { createDatabaseOn } from './postgres-server.js';

/**
 * A new, empty database on the run's PostgreSQL server (started by global
 * setup), for one test file or one test; returns its URL. Databases go away
 * with the server at the end of the run.
 */
export async function createTestDatabase(): Promise<string> {
  return createDatabaseOn(inject('postgres'), `test_${randomBytes(8).toString('hex')}`);
}

/** A fresh embedded-store folder (a copy of the run's pristine PGlite data folder), removed by `cleanup`. */
export function createTestEmbeddedDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  return createEmbeddedDir(inject('pgliteTemplateRoot'));
}

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createEmbeddedDir } from './pglite-template.js';

/**
 * A new, empty database on the run's PostgreSQL server (started by global
 * setup), for one test file or one test; returns its URL. Databases go away
 * with the server at the end of the run.
 */
export async function createTestDatabase(): Promise<string> {
  const server = inject('postgres');
  const name = `test_${randomBytes(8).toString('hex')}`;
  const client = new pg.Client({ connectionString: server.adminUrl });
  await client.connect();
  try {
    await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
  return `postgres://${server.user}@${server.host}:${server.port}/${name}`;
}

/** A fresh embedded-store folder (a copy of the run's pristine PGlite data folder), removed by `cleanup`. */
export function createTestEmbeddedDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  return createEmbeddedDir(inject('pgliteTemplateRoot'));
}

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startPostgresServer, type PostgresServerInfo } from './postgres-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The run's real PostgreSQL server; tests take a database each with `createTestDatabase()`. */
    postgres: PostgresServerInfo;
    /** Where the pristine PGlite data folder is made on first use (see pglite-template.ts). */
    pgliteTemplateRoot: string;
  }
}

/** Vitest global setup: services shared by every test file are started here. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const runDir = await mkdtemp(join(tmpdir(), 'restore-drill-test-run-'));
  const postgres = await startPostgresServer().catch(async (error: unknown) => {
    await rm(runDir, { recursive: true, force: true });
    throw error;
  });
  const { stop, pause: _pause, resume: _resume, pauseArgv: _pauseArgv, ...postgresInfo } = postgres;
  project.provide('postgres', postgresInfo);
  project.provide('pgliteTemplateRoot', join(runDir, 'pglite-template'));
  return async () => {
    try {
      await stop();
    } finally {
      await rm(runDir, { recursive: true, force: true });
    }
  };
}

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { COMPILED_ENV, freshCompiledTree } from './compiled-tests.js';
import { pgliteTemplate } from './pglite-template.js';
import { startPostgresServer, type PostgresServerInfo } from './postgres-server.js';
import { testTmpdir } from './test-tmpdir.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The run's real PostgreSQL server; tests take a database each with `createTestDatabase()`. */
    postgres: PostgresServerInfo;
    /** Where the new-store PGlite data folder is (see pglite-template.ts). */
    pgliteTemplateRoot: string;
    /** Where the run's template restic repository is made on first use (see restic-repo.ts). */
    resticTemplateRoot: string;
  }
}

/** Vitest global setup: services shared by every test file are started here. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Before anything is made: workers, their children and the servers below all use it.
  const tmp = await testTmpdir();
  if (tmp !== null) process.env.TMPDIR = tmp;
  const runDir = await mkdtemp(join(tmpdir(), 'restore-drill-test-run-'));
  // Test workers inherit this environment, and their child processes from them.
  const compiled = await freshCompiledTree(join(import.meta.dirname, '../..'));
  if (compiled === null) delete process.env[COMPILED_ENV];
  else process.env[COMPILED_ENV] = compiled;
  const templateRoot = join(runDir, 'pglite-template');
  // The PGlite templates (initdb in WASM, seconds; far more under load) are made here, beside
  // the server's start, so that no test's timeout pays for it.
  const [server, template] = await Promise.allSettled([
    startPostgresServer(),
    Promise.all([pgliteTemplate(templateRoot), pgliteTemplate(templateRoot, 'empty')]),
  ]);
  if (server.status === 'rejected' || template.status === 'rejected') {
    if (server.status === 'fulfilled') await server.value.stop();
    await rm(runDir, { recursive: true, force: true });
    throw server.status === 'rejected' ? server.reason : (template as PromiseRejectedResult).reason;
  }
  const {
    stop,
    pause: _pause,
    resume: _resume,
    pauseArgv: _pauseArgv,
    ...postgresInfo
  } = server.value;
  project.provide('postgres', postgresInfo);
  project.provide('pgliteTemplateRoot', templateRoot);
  project.provide('resticTemplateRoot', join(runDir, 'restic-template'));
  return async () => {
    try {
      await stop();
    } finally {
      await rm(runDir, { recursive: true, force: true });
    }
  };
}

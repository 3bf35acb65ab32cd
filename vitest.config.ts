import { configDefaults, defineConfig } from 'vitest/config';
import { WASM_TIERING_OPTION } from './src/evidence/wasm-budget.js';

/**
 * The slow end-to-end files: real CLI and daemon processes, real restic and
 * pg_dump at size, Chromium. `npm run test:fast` (TEST_SET=fast) leaves them out;
 * `npm test` runs everything.
 */
export const SLOW_TEST_FILES = [
  'test/cli/**',
  'test/alerts/restart.test.ts',
  'test/evidence/chain-purge.test.ts',
  'test/evidence/open-store.test.ts',
  'test/report/server/browser.test.ts',
  'test/schedule/run-leases.test.ts',
  'test/schedule/scheduler.test.ts',
  'test/scripts/bundle-cli.test.ts',
  'test/sources/basebackup-tar.test.ts',
  'test/sources/postgres-source.test.ts',
  'test/sources/restic-source.test.ts',
  'test/sources/restic-conformance.test.ts',
  'test/drill/damaged-sources.test.ts',
  'test/drill/stops.test.ts',
  // Their own PostgreSQL servers (pg_basebackup, stop/start), pg_dump, restic, the S3 server
  // at size, Chromium: each over 9 s here.
  'test/checks/manifest-check.test.ts',
  'test/manifest/wal-records.test.ts',
  'test/report/server/signoff-browser.test.ts',
  'test/sources/tar-source.test.ts',
  'test/sources/postgres-compressed.test.ts',
  'test/sources/postgres/table-digests.test.ts',
  'test/sources/evidence-backup-source.test.ts',
  'test/sources/s3-conformance.test.ts',
  'test/sources/s3-source.test.ts',
  'test/sources/restic-unreadable-trees.test.ts',
  'test/evidence/durability.test.ts',
  'test/evidence/migrations.test.ts',
  'test/evidence/chain-bundle.test.ts',
  'test/drill/spool.test.ts',
];

const fastOnly = process.env.TEST_SET === 'fast';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: [...configDefaults.exclude, ...(fastOnly ? SLOW_TEST_FILES : [])],
    globalSetup: ['test/helpers/global-setup.ts'],
    // The most any test or hook may take: a longer one hides a hang. Slow setup (the
    // PostgreSQL server, the PGlite template) is done once in global setup.
    hookTimeout: 60_000,
    testTimeout: 60_000,
    // Processes, not threads: tests switch user ids (seteuid) and run real servers.
    // Two workers for two cores; the slowest files start first (vitest's cached durations).
    pool: 'forks',
    maxWorkers: 2,
    // One module graph per worker, not per file: importing src/ and the SDKs again for each of
    // 160 files cost ~0.7 s of CPU a file. What a file leaves in the process (secrets registered
    // for redaction, timers, stubs, env) is undone by the setup file below.
    isolate: false,
    setupFiles: ['test/helpers/per-file-cleanup.ts'],
    // PGlite on the baseline compiler, as the CLI runs it (bin/restore-drill.ts): optimising
    // its WASM in the background cost each worker CPU and memory the tests never won back.
    execArgv: process.env.TEST_WASM_TIER_UP ? [] : ['--liftoff-only', WASM_TIERING_OPTION],
  },
});

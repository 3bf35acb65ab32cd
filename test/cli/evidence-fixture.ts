import { existsSync } from 'node:fs';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand, type CommandResult } from '../../src/exec/run-command.js';
import { itemsDigest } from '../../src/evidence/items-digest.js';
import { openEvidenceStore, type EvidenceStore } from '../../src/evidence/open-store.js';
import type { RunRecord } from '../../src/evidence/run-record.js';
import { recordRunResult, recordRunStart } from '../../src/evidence/runs.js';
import { silentLogger } from '../../src/log/logger.js';
import { startOf } from '../helpers/run-records.js';
import { createTestDatabase, createTestEmbeddedDir } from '../helpers/test-database.js';

/** The built CLI, as users run it (`npm test` builds first). */
const CLI = fileURLToPath(new URL('../../dist/bin/restore-drill.js', import.meta.url));

/** Runs `restore-drill ARGS` in a real child process; full stdout kept. */
export async function restoreDrill(args: readonly string[], cwd: string): Promise<CommandResult> {
  if (!existsSync(CLI))
    throw new Error(`${CLI} is missing: run 'npm run build' (npm test does) before the CLI tests`);
  return runCommand(process.execPath, [CLI, ...args], {
    cwd,
    keepStdout: true,
    timeoutMs: 50_000,
    env: { RESTORE_DRILL_LOG_FORMAT: 'json', RESTORE_DRILL_LOG_LEVEL: 'warn' },
  });
}

/** A config folder with drills and an evidence database (embedded, or a fresh PostgreSQL database), seeded with runs. */
export interface CliPlace {
  dir: string;
  config: string;
  /** Opens the evidence store the CLI uses (close it before running the CLI on PGlite: one process at a time). */
  open(): Promise<EvidenceStore>;
  cleanup(): Promise<void>;
}

export const DRILLS_YAML = `
drills:
  - name: nightly
    owner: infra-team
    maxAge: 2d
    source: { kind: tar, path: /nonexistent/*.tar }
    targets: { rto: 15m, rpo: 26h }
    controls: [ISO27001:A.8.13, SOC2:CC9.1]
  - name: weekly
    owner: app-team
    maxAge: 8d
    source: { kind: tar, path: /nonexistent/*.tar }
    controls: [SOC2:CC9.1]
    waivers:
      - { owner: ciso, reason: known manifest drift, expires: 2099-12-31, checks: [manifest] }
  - name: never-run
    owner: dba
    maxAge: 8d
    source: { kind: directory, path: /nonexistent/* }
`;

export async function prepareCliPlace(
  engine: 'pglite' | 'postgres',
  records: readonly RunRecord[],
): Promise<CliPlace> {
  const dir = await mkdtemp(join(tmpdir(), 'restore-drill-cli-'));
  const url = engine === 'postgres' ? await createTestDatabase() : undefined;
  // Embedded: a copy of the run's new-store PGlite folder (a fresh initdb takes seconds), where the CLI looks for it.
  const embedded = engine === 'pglite' ? await createTestEmbeddedDir() : undefined;
  if (embedded) await symlink(embedded.dir, join(dir, '.restore-drill'));
  const config = join(dir, 'restore-drill.yaml');
  await writeFile(config, `${url ? `database:\n  url: ${url}\n` : ''}${DRILLS_YAML}`);
  const open = () =>
    openEvidenceStore({
      ...(url ? { url } : {}),
      embeddedDir: join(dir, '.restore-drill'),
      log: silentLogger(),
    });
  const store = await open();
  try {
    for (const record of records) {
      await recordRunStart(store.db, startOf(record));
      // One item, fixed by the record's itemsDigest as a real run's are.
      const items = [{ path: 'a.txt', size: 1, sha256: 'a'.repeat(64) }];
      await recordRunResult(
        store.db,
        { ...record, restored: { ...record.restored, files: 1 }, itemsDigest: itemsDigest(items) },
        items,
      );
    }
  } finally {
    await store.close();
  }
  return {
    dir,
    config,
    open,
    cleanup: async () => {
      await rm(dir, { recursive: true, force: true });
      await embedded?.cleanup();
    },
  };
}

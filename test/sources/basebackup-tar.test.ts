import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/evidence/run-record.js';
import { runDrills } from '../helpers/cli.js';
import { startScratchServer, type ScratchServer } from '../helpers/pg-basebackup.js';
import { tempDir } from '../helpers/temp.js';

/**
 * `pg_basebackup -Ft` writes base.tar, pg_wal.tar and backup_manifest: a directory drill
 * over that folder restores it as PostgreSQL's docs say (base.tar into the data folder,
 * pg_wal.tar into pg_wal/) so the manifest's files and WAL are judged, not the archives.
 */
describe('directory source over a tar-format pg_basebackup', () => {
  let server: ScratchServer;
  let root: string;
  let config: string;

  beforeAll(async () => {
    server = await startScratchServer();
    root = await tempDir('restore-drill-basebackup-tar-');
    await server.baseBackup('tar', ['-Ft', '-X', 'stream']);
    await server.baseBackup('tar-gz', ['-Ft', '-z', '-X', 'stream']);
    await server.baseBackup('tar-changed', ['-Ft', '-X', 'stream']);
    // One byte of PG_VERSION's data inside base.tar: the archive still reads, the file differs.
    const base = path.join(server.dir, 'tar-changed', 'base.tar');
    const bytes = await readFile(base);
    const header = bytes.indexOf('PG_VERSION\0');
    expect(header).toBeGreaterThanOrEqual(0);
    bytes[header + 512] = (bytes[header + 512] as number) ^ 0x01;
    await writeFile(base, bytes);
    config = path.join(root, 'restore-drill.yaml');
    const drill = (name: string): string => `  - name: ${name}
    source: { kind: directory, path: ${path.join(server.dir, name)} }
    checks: { manifest: { format: backup_manifest, path: backup_manifest } }
`;
    await writeFile(
      config,
      `scratch: { root: ${path.join(root, 'scratch')} }\ndrills:\n${drill('tar')}${drill('tar-gz')}${drill('tar-changed')}`,
    );
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('passes the plain and the gzipped archives with their WAL, and fails a changed file inside base.tar', async () => {
    const { runs } = await runDrills<RunRecord>(config, ['tar', 'tar-gz', 'tar-changed']);
    const [plain, gzipped, changed] = runs;
    for (const run of [plain, gzipped]) {
      expect(run?.verdict, run?.cause ?? '').toBe('passed');
      expect(run?.checks.map((check) => [check.name, check.verdict])).toEqual([
        ['restore', 'passed'],
        ['manifest', 'passed'],
        ['extraFiles', 'passed'],
      ]);
      expect(run?.checks[1]?.detail).toMatch(
        /^all \d+ files match backup_manifest \(backup_manifest\); the WAL its WAL-Ranges need is there, \d+ records whole$/,
      );
    }
    expect(changed?.verdict).toBe('failed');
    expect(changed?.checks[1]?.findings).toEqual([
      expect.objectContaining({ item: 'PG_VERSION', problem: 'changed' }),
    ]);
  });
});

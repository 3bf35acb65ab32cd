import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/evidence/run-record.js';
import { silentLogger } from '../../src/log/logger.js';
import { SourceError } from '../../src/model/restore.js';
import { directorySourceKind } from '../../src/sources/directory-source.js';
import { run } from '../helpers/artefacts.js';
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

describe('directory source over a folder shaped like a tar-format pg_basebackup', () => {
  it('never writes another archive through a symlink base.tar restored in its place', async () => {
    const root = await tempDir('restore-drill-basebackup-link-');
    const outside = path.join(root, 'outside');
    const staged = path.join(root, 'staged');
    const set = path.join(root, 'set');
    await mkdir(outside);
    await mkdir(staged);
    await mkdir(set);
    await symlink(outside, path.join(staged, 'pg_wal'));
    await writeFile(path.join(staged, 'PG_VERSION'), '15\n');
    await run('tar', ['-cf', path.join(set, 'base.tar'), '-C', staged, 'PG_VERSION', 'pg_wal']);
    await writeFile(path.join(root, 'segment'), 'wal');
    await run('tar', ['-cf', path.join(set, 'pg_wal.tar'), '-C', root, 'segment']);
    await writeFile(path.join(set, 'backup_manifest'), '{}');
    const source = directorySourceKind.create(
      { kind: 'directory', path: set, select: 'latest' },
      { configDir: root, log: silentLogger() },
    );
    const [found] = await source.listSets({});
    const scratch = path.join(root, 'scratch');
    await mkdir(scratch);
    const error = await source
      .restore(found!, scratch, { items: null, log: silentLogger() })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as Error).message).toBe(
      'base.tar restored pg_wal as a symlink, where another archive of the backup goes: not written through',
    );
    expect(await readdir(outside)).toEqual([]);
  });
});

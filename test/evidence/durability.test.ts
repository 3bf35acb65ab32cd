import { mkdir, mkdtemp, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { syncDataDir, syncEvidence } from '../../src/evidence/durability.js';
import { openEvidenceStore } from '../../src/evidence/open-store.js';
import { recordRunStart } from '../../src/evidence/runs.js';
import { runCommand } from '../../src/exec/run-command.js';
import { silentLogger } from '../../src/log/logger.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { makeRecord, startOf } from '../helpers/run-records.js';
import { createTestDatabase, createTestEmbeddedDir } from '../helpers/test-database.js';

const projectRoot = resolve(import.meta.dirname, '../..');

/** Files durable-child.ts removes, in this order, to mark moments in the trace. */
const MARKERS = ['opened', 'recorded', 'raised', 'sent'];

/**
 * Runs a fixture child under strace, tracing `syscalls`; returns the trace's lines (`-y`: fds with
 * their paths). `--seccomp-bpf` stops the child only at the traced calls, not at each of PGlite's
 * reads and writes (strace >= 5.3; Debian bookworm has 6.1): the trace is the same, at a third of the CPU.
 */
async function traceChild(
  fixture: string,
  arg: string,
  syscalls: string,
  traceDir: string,
): Promise<string[]> {
  const trace = join(traceDir, 'strace.txt');
  await runCommand(
    'strace',
    [
      '-f',
      '--seccomp-bpf',
      '-y',
      '-o',
      trace,
      '-e',
      `trace=${syscalls}`,
      process.execPath,
      join(projectRoot, 'test/helpers/run-ts.mjs'),
      join(import.meta.dirname, 'fixtures', fixture),
      arg,
    ],
    { cwd: projectRoot, timeoutMs: SLOW_STORE_MS },
  );
  return (await readFile(trace, 'utf8')).split('\n');
}

describe('evidence durability', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  }, SLOW_STORE_MS);

  it(
    'embedded: fsyncs the WAL segment and pg_wal before a run, an alert or a delivery attempt is reported recorded, and the data folder at close',
    async () => {
      const { dir, cleanup } = await createTestEmbeddedDir();
      cleanups.push(cleanup);
      for (const marker of MARKERS) await writeFile(join(dir, marker), '');
      const lines = await traceChild(
        'durable-child.ts',
        dir,
        'fsync,fdatasync,unlink,unlinkat',
        dir,
      );
      const at = (marker: string) =>
        lines.findIndex((line) => new RegExp(`unlink(at)?\\(.*/${marker}"`).test(line));
      const [opened, recorded, raised, sent] = MARKERS.map(at) as [number, number, number, number];
      expect(opened).toBeGreaterThan(0);
      expect(recorded).toBeGreaterThan(opened);
      expect(raised).toBeGreaterThan(recorded);
      expect(sent).toBeGreaterThan(raised);
      // Completed syncs by line: one cut by another thread's call counts where it resumed.
      const completed: Array<string | undefined> = [];
      const pending = new Map<string, string>();
      for (const line of lines) {
        const started = /^(\d+)\s+f(?:data)?sync\(\d+<([^>]*)>/.exec(line);
        const resumed = /^(\d+)\s+<\.\.\. f(?:data)?sync resumed>/.exec(line);
        if (started && line.includes('unfinished')) pending.set(started[1]!, started[2]!);
        if (started && !line.includes('unfinished')) completed.push(started[2]);
        else if (resumed) completed.push(pending.get(resumed[1]!));
        else completed.push(undefined);
      }
      const syncedPaths = (from: number, to: number) =>
        completed.slice(from, to).filter((path): path is string => path !== undefined);
      const pgdata = join(dir, 'pgdata');
      const wal = join(pgdata, 'pg_wal');
      const beforeReport = syncedPaths(opened, recorded);
      expect(beforeReport).toContain(wal);
      expect(beforeReport.some((path) => path.startsWith(wal + '/'))).toBe(true);
      // The alert before it is sent, the attempt before the next is decided.
      expect(syncedPaths(recorded, raised).some((path) => path.startsWith(wal + '/'))).toBe(true);
      expect(syncedPaths(raised, sent).some((path) => path.startsWith(wal + '/'))).toBe(true);
      const atClose = syncedPaths(sent, lines.length);
      expect(atClose).toContain(pgdata);
      expect(atClose).toContain(join(pgdata, 'global'));
      expect(atClose.some((path) => path.startsWith(join(pgdata, 'base') + '/'))).toBe(true);
    },
    SLOW_STORE_MS,
  );

  it(
    'an export or report file is fsynced before its rename and its folder after',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'restore-drill-atomic-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const file = join(dir, 'export.jsonl');
      const lines = await traceChild(
        'atomic-write-child.ts',
        file,
        'fsync,fdatasync,rename,renameat,renameat2',
        dir,
      );
      expect(await readFile(file, 'utf8')).toBe('{"kind":"header"}\n');
      const renamed = lines.findIndex((line) => /rename.*export\.jsonl"/.test(line));
      expect(renamed).toBeGreaterThan(0);
      const synced = (from: number, to: number) =>
        lines
          .slice(from, to)
          .filter((line) => /fsync\(\d+</.test(line))
          .map((line) => /<([^>]*)>/.exec(line)?.[1] ?? '');
      expect(synced(0, renamed).some((path) => /export\.jsonl\.\d+\.tmp$/.test(path))).toBe(true);
      expect(synced(renamed, lines.length)).toContain(dir);
    },
    SLOW_STORE_MS,
  );

  it(
    'an evidence backup fsyncs its files and its folder before the rename into place, the out folder after, and the parent of an out folder it created',
    async () => {
      const { dir, cleanup } = await createTestEmbeddedDir();
      cleanups.push(cleanup);
      // The child's store is the template's copy: a store made from the seed costs 4 s more CPU.
      await mkdir(join(dir, 'store'));
      await rename(join(dir, 'pgdata'), join(dir, 'store', 'pgdata'));
      const lines = await traceChild(
        'evidence-backup-child.ts',
        dir,
        'fsync,fdatasync,rename,renameat,renameat2',
        dir,
      );
      const out = join(dir, 'backups');
      const final = join(out, '2026-12-07T010000Z');
      expect(await readFile(join(final, 'manifest.json'), 'utf8')).toContain(
        '"format": "restore-drill-evidence-backup"',
      );
      const renamed = lines.findIndex((line) => line.includes(`"${final}"`) && /rename/.test(line));
      expect(renamed).toBeGreaterThan(0);
      const synced = (from: number, to: number) =>
        lines
          .slice(from, to)
          .filter((line) => /fsync\(\d+</.test(line) && !line.includes('unfinished'))
          .map((line) => /<([^>]*)>/.exec(line)?.[1] ?? '');
      const temporary = /\.2026-12-07T010000Z\.partial-[0-9a-f]{8}$/;
      const before = synced(0, renamed);
      expect(before.some((path) => temporary.test(path))).toBe(true);
      for (const file of ['evidence.jsonl', 'manifest.json'])
        expect(
          before.some(
            (path) => path.endsWith(`/${file}`) && temporary.test(path.slice(0, -file.length - 1)),
          ),
          file,
        ).toBe(true);
      expect(synced(renamed, lines.length)).toContain(out);
      // The out folder was new: it only survives a power loss once its parent is synced too.
      expect(synced(0, lines.length)).toContain(dir);
    },
    SLOW_STORE_MS,
  );

  it('at close, syncs the files changed since the open and the folders whose names changed, nothing else', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restore-drill-sync-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const before = new Date(Date.now() - 60_000);
    for (const folder of ['untouched', 'written', 'emptied']) {
      await mkdir(join(dir, folder));
      await writeFile(join(dir, folder, 'page'), 'old');
    }
    await writeFile(join(dir, 'emptied', 'gone'), 'old');
    for (const path of ['untouched/page', 'written/page', 'emptied/page', 'emptied/gone'])
      await utimes(join(dir, path), before, before);
    for (const folder of ['untouched', 'written', 'emptied', '.'])
      await utimes(join(dir, folder), before, before);
    const openedAt = Date.now() - 1000;
    // Rewritten in place: its folder keeps its mtime, the file's moves.
    await writeFile(join(dir, 'written', 'page'), 'new');
    await rm(join(dir, 'emptied', 'gone'));
    // written/page, then emptied (a name removed); untouched, its page and the root stay as they were.
    expect(await syncDataDir(dir, openedAt)).toBe(2);
    await writeFile(join(dir, 'new-file'), '');
    // Now also new-file and the root that names it.
    expect(await syncDataDir(dir, openedAt)).toBe(4);
  });

  it(
    'embedded: a sync with nothing new written syncs only the pg_wal folder',
    async () => {
      const { dir, cleanup } = await createTestEmbeddedDir();
      cleanups.push(cleanup);
      const store = await openEvidenceStore({ embeddedDir: dir, log: silentLogger() });
      cleanups.push(() => store.close());
      await recordRunStart(store.db, startOf(makeRecord()));
      expect(await syncEvidence(store.db)).toBe(1);
    },
    SLOW_STORE_MS,
  );

  it(
    'PostgreSQL: the server syncs its own files, the store pays nothing',
    async () => {
      const store = await openEvidenceStore({
        url: await createTestDatabase(),
        embeddedDir: '/nonexistent',
        log: silentLogger(),
      });
      cleanups.push(() => store.close());
      await recordRunStart(store.db, startOf(makeRecord()));
      expect(await syncEvidence(store.db)).toBe(0);
    },
    SLOW_STORE_MS,
  );
});

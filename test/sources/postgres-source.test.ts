import { randomBytes } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import { PostgresSource } from '../../src/sources/postgres-source.js';
import { postgresSourceConfigSchema } from '../../src/sources/postgres-source-config.js';
import {
  databaseExists,
  parseServerUrl,
  scratchDatabaseName,
} from '../../src/sources/postgres/scratch-server.js';
import { countTables } from '../../src/sources/postgres/table-counts.js';
import { BackupDamagedError, type RestoreOutcome } from '../../src/sources/restore-source.js';
import { SourceError, type BackupSet } from '../../src/model/restore.js';
import { run } from '../helpers/artefacts.js';
import { createPgbenchDatabase, flipMiddle, pgDump, pokeByte, query } from '../helpers/pg-dumps.js';
import { startPostgresServer, type PostgresServer } from '../helpers/postgres-server.js';
import { tempDir } from '../helpers/temp.js';
import { createTestDatabase } from '../helpers/test-database.js';

const FAKE_NEWER = fileURLToPath(new URL('../fixtures/bin/fake-pg-restore-newer', import.meta.url));
const log = silentLogger();

/** Rows kept in pgbench_accounts for the dumps that restore: a thousand tell each story as well as 100,000, faster. */
const ACCOUNTS = 1_000;

let root: string;
let sourceUrl: string;
let adminUrl: string;
let expected: { name: string; rows: number }[];

function source(config: Record<string, unknown> & { path: string }): PostgresSource {
  const parsed = postgresSourceConfigSchema.parse({
    kind: 'postgres',
    scratchServer: { url: adminUrl },
    ...config,
  });
  return new PostgresSource(parsed, { configDir: root, log });
}

/** An empty scratch folder named as runDrill names them, so the scratch database name follows it. */
async function scratch(drill = 'pg-test'): Promise<string> {
  const dir = path.join(
    root,
    'scratch',
    `${drill}-20260101T030000Z-${randomBytes(4).toString('hex')}`,
  );
  await mkdir(dir, { recursive: true });
  return dir;
}

/** What restoring the source's only set into a new scratch folder throws (or resolves to). */
async function restoreError(src: PostgresSource): Promise<unknown> {
  const set = await onlySet(src);
  return src.restore(set, await scratch(), { items: null, log }).catch((e: unknown) => e);
}

/** A copy of the plain dump, edited, as `NAME/app.sql`: the path to configure. */
async function editedPlainDump(
  name: string,
  edit: (text: string) => string | Buffer,
): Promise<string> {
  await mkdir(path.join(root, name), { recursive: true });
  const text = await readFile(path.join(root, 'dumps', 'app-2026-01-01.sql'), 'utf8');
  const edited = edit(text);
  expect(edited).not.toBe(text);
  await writeFile(path.join(root, name, 'app.sql'), edited);
  return `${name}/app.sql`;
}

/**
 * pg_dump's plain dump cut at a statement boundary: after the `\.` that closes the COPY of
 * pgbench_accounts, so later tables, constraints and indexes are gone with no partial line.
 */
const cutAfterAccounts = (text: string): string => {
  const copy = text.indexOf('COPY public.pgbench_accounts ');
  const end = text.indexOf('\n\\.\n', copy) + '\n\\.\n'.length;
  expect(copy).toBeGreaterThan(0);
  return text.slice(0, end);
};

/**
 * A pg_dump -Fc archive without the data block of TOC entry `dumpId`: the block header (type 1,
 * the id as sign byte + 4-byte little-endian int), then chunks of (length, bytes) up to a
 * zero length. The table of contents keeps pointing at the offset where the block was.
 */
function withoutDataBlock(archive: Buffer, dumpId: number): Buffer {
  const id = Buffer.alloc(4);
  id.writeInt32LE(dumpId);
  const header = Buffer.concat([Buffer.from([1, 0]), id]);
  for (
    let start = archive.indexOf(header);
    start !== -1;
    start = archive.indexOf(header, start + 1)
  ) {
    let at = start + header.length;
    for (;;) {
      if (at + 5 > archive.length || archive[at] !== 0) break;
      const length = archive.readInt32LE(at + 1);
      at += 5;
      if (length === 0) return Buffer.concat([archive.subarray(0, start), archive.subarray(at)]);
      at += length;
    }
  }
  throw new Error(`no data block of TOC entry ${dumpId}`);
}

const garbleCreateTable = (text: string): string =>
  text.replace(/^CREATE TABLE /m, 'CREATE TABLEAU ');
/** The first account row's balance (its third column) becomes `x`. */
const badCopyValue = (text: string): string =>
  text.replace(/^(COPY public\.pgbench_accounts .*\n1\t1\t)0\t/m, '$1x\t');
/** The first account row loses its last column. */
const missingCopyColumn = (text: string): string =>
  text.replace(/^(COPY public\.pgbench_accounts .*\n1\t1\t0)\t[^\n]*/m, '$1');
/** A byte no UTF-8 text holds (0xff), in the first account row's filler; the dump is ASCII. */
const invalidUtf8 = (text: string): Buffer =>
  Buffer.from(
    text.replace(/^(COPY public\.pgbench_accounts .*\n1\t1\t0\t) /m, '$1\u00FF'),
    'latin1',
  );
/** The dump as a newer pg_dump would have headed it. */
const fromPgDump = (major: number, text: string): string =>
  text.replace(/^-- Dumped by pg_dump version \d+/m, `-- Dumped by pg_dump version ${major}`);

async function onlySet(src: PostgresSource): Promise<BackupSet> {
  const sets = await src.listSets({});
  expect(sets).toHaveLength(1);
  return sets[0]!;
}

async function restoreAll(
  src: PostgresSource,
  dir?: string,
): Promise<{ outcome: RestoreOutcome; scratchDir: string }> {
  const scratchDir = dir ?? (await scratch());
  const outcome = await src.restore(await onlySet(src), scratchDir, { items: null, log });
  return { outcome, scratchDir };
}

async function sourceCounts(url: string): Promise<{ name: string; rows: number }[]> {
  return countTables(async (text) => ({ rows: await query(url, text), fields: [] }));
}

beforeAll(async () => {
  root = await tempDir('restore-drill-pg-');
  adminUrl = inject('postgres').adminUrl;
  sourceUrl = await createPgbenchDatabase();
  await mkdir(path.join(root, 'dumps'), { recursive: true });
  // The damage tests cut or flip the middle of a custom dump holding pgbench's 100,000 accounts,
  // so that the middle lies inside that table's compressed data.
  await pgDump(sourceUrl, 'c', path.join(root, 'full-app.dump'));
  await query(sourceUrl, `delete from pgbench_accounts where aid > ${ACCOUNTS}`);
  expected = await sourceCounts(sourceUrl);
  await pgDump(sourceUrl, 'c', path.join(root, 'dumps', 'app-2026-01-01.dump'));
  await pgDump(sourceUrl, 'd', path.join(root, 'dumps', 'app-2026-01-01.dir'));
  await pgDump(sourceUrl, 'p', path.join(root, 'dumps', 'app-2026-01-01.sql'));
  await pgDump(sourceUrl, 't', path.join(root, 'dumps', 'app-2026-01-01.tar'));
});

describe('postgres source on a scratch server', () => {
  it('restores a custom dump into a fresh scratch database with exact row counts, and drops it on dispose', async () => {
    expect(expected.map((table) => table.name)).toEqual([
      'public.pgbench_accounts',
      'public.pgbench_branches',
      'public.pgbench_history',
      'public.pgbench_tellers',
    ]);
    const { outcome, scratchDir } = await restoreAll(source({ path: 'dumps/*.dump' }));
    const name = scratchDatabaseName(scratchDir);
    expect(name).toMatch(/^restore_drill_pg_test_[0-9a-f]{8}$/);
    expect(outcome.tables).toEqual(expected);
    expect(outcome.tables?.find((table) => table.name === 'public.pgbench_accounts')?.rows).toBe(
      ACCOUNTS,
    );
    expect(outcome.refused).toEqual([]);
    expect(outcome.files).toEqual([]);
    expect(outcome.commands?.map((c) => c.command)).toEqual([
      expect.stringMatching(/^pg_restore -l .*app-2026-01-01\.dump$/),
      expect.stringMatching(
        new RegExp(
          `^pg_restore --no-owner --no-acl --no-password -j 2 -d .*/${name} .*app-2026-01-01\\.dump$`,
        ),
      ),
    ]);
    expect(outcome.commands?.every((c) => c.exitCode === 0)).toBe(true);
    expect(outcome.database?.location).toMatch(new RegExp(`/${name}$`));
    expect(await databaseExists(parseServerUrl(adminUrl), name)).toBe(true);
    await outcome.dispose?.();
    expect(await databaseExists(parseServerUrl(adminUrl), name)).toBe(false);
  });

  it('restores a directory dump with -j 2 and a tar dump without -j', async () => {
    const dir = await restoreAll(source({ path: 'dumps/*.dir' }));
    expect(dir.outcome.tables).toEqual(expected);
    expect(dir.outcome.commands?.[1]?.command).toMatch(/ -j 2 .*app-2026-01-01\.dir$/);
    await dir.outcome.dispose?.();
    const tar = await restoreAll(source({ path: 'dumps/*.tar' }));
    expect(tar.outcome.tables).toEqual(expected);
    expect(tar.outcome.commands?.[1]?.command).not.toMatch(/ -j /);
    await tar.outcome.dispose?.();
  });

  it('restores a plain dump with psql into the scratch server', async () => {
    const { outcome, scratchDir } = await restoreAll(source({ path: 'dumps/*.sql' }));
    expect(outcome.tables).toEqual(expected);
    expect(outcome.commands?.[0]?.command).toMatch(
      /^psql -X -q --no-password -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d .* -f .*app-2026-01-01\.sql$/,
    );
    await outcome.dispose?.();
    expect(await databaseExists(parseServerUrl(adminUrl), scratchDatabaseName(scratchDir))).toBe(
      false,
    );
  });

  it('lists dump files and -Fd folders by glob, ignoring folders without toc.dat', async () => {
    await mkdir(path.join(root, 'mixed', 'not-a-dump'), { recursive: true });
    await cp(path.join(root, 'dumps', 'app-2026-01-01.dump'), path.join(root, 'mixed', 'a.dump'));
    await cp(path.join(root, 'dumps', 'app-2026-01-01.dir'), path.join(root, 'mixed', 'b'), {
      recursive: true,
    });
    const sets = await source({ path: 'mixed/*' }).listSets({});
    expect(sets.map((set) => path.basename(set.path))).toEqual(['a.dump', 'b']);
  });

  it('lists a -Fd folder that lost its toc.dat (pg_dump cut short) and fails it as damaged, never drilling the older dump in its place', async () => {
    const dumps = path.join(root, 'no-toc');
    await cp(path.join(root, 'dumps', 'app-2026-01-01.dir'), path.join(dumps, 'app-2026-01-01'), {
      recursive: true,
    });
    const newest = path.join(dumps, 'app-2026-01-02');
    await cp(path.join(root, 'dumps', 'app-2026-01-01.dir'), newest, { recursive: true });
    await rm(path.join(newest, 'toc.dat'));
    const src = source({ path: 'no-toc/*' });
    const sets = await src.listSets({});
    expect(sets.map((set) => path.basename(set.path))).toEqual([
      'app-2026-01-01',
      'app-2026-01-02',
    ]);
    const error = await src
      .restore(sets[1]!, await scratch(), { items: null, log })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackupDamagedError);
    expect((error as BackupDamagedError).damage.detail).toBe(
      'table data files but no toc.dat (pg_dump -Fd writes it last)',
    );
    // Told it is a directory dump, pg_restore itself says so: damage too.
    const told = source({ path: 'no-toc/app-2026-01-02', format: 'directory' });
    const toldError = await told
      .restore(await onlySet(told), await scratch(), { items: null, log })
      .catch((e: unknown) => e);
    expect(toldError).toBeInstanceOf(BackupDamagedError);
    expect((toldError as BackupDamagedError).damage.detail).toMatch(/"toc\.dat" does not exist/);
  });

  it('fails an empty (0-byte) dump file as damaged, not as an error of the drill', async () => {
    await mkdir(path.join(root, 'empty'), { recursive: true });
    await writeFile(path.join(root, 'empty', 'app.dump'), '');
    const src = source({ path: 'empty/*.dump' });
    const error = await restoreError(src);
    expect(error).toBeInstanceOf(BackupDamagedError);
    expect((error as BackupDamagedError).message).toMatch(/^dump .*app\.dump is empty$/);
  });

  it('samples tables: the schema comes back whole, only the chosen tables are counted', async () => {
    const src = source({ path: 'dumps/*.dump' });
    const set = await onlySet(src);
    const items = await src.listItems(set, {});
    expect(items.map((item) => item.path)).toEqual([
      'public.pgbench_accounts',
      'public.pgbench_branches',
      'public.pgbench_history',
      'public.pgbench_tellers',
    ]);
    const outcome = await src.restore(set, await scratch(), {
      items: new Set(['public.pgbench_tellers', 'public.no_such_table']),
      log,
    });
    try {
      expect(outcome.tables).toEqual([{ name: 'public.pgbench_tellers', rows: 10 }]);
      expect(outcome.refused).toEqual([
        { entry: 'table public.no_such_table', reason: 'not found in the dump' },
      ]);
      const rows = await outcome.database!.readOnly(
        (q) => q('select count(*)::int as n from public.pgbench_accounts'),
        { statementTimeoutMs: 10_000 },
      );
      expect(rows.rows[0]?.n).toBe(0);
    } finally {
      await outcome.dispose?.();
    }
  });

  it('restores what it can when an entry fails, and names the entry that failed', async () => {
    // A policy for a role that exists when the dump is made and is gone when it is restored.
    const role = `gone_${randomBytes(4).toString('hex')}`;
    const url = await createTestDatabase();
    await query(
      url,
      `create role ${role}; create table t (id int); insert into t values (1), (2); create policy p_gone on t to ${role} using (true)`,
    );
    await mkdir(path.join(root, 'partial'), { recursive: true });
    await pgDump(url, 'c', path.join(root, 'partial', 'app.dump'));
    await query(adminUrl, `drop database ${new URL(url).pathname.slice(1)}`);
    await query(adminUrl, `drop role ${role}`);
    const src = source({ path: 'partial/*.dump' });
    const outcome = await src.restore(await onlySet(src), await scratch(), { items: null, log });
    try {
      expect(outcome.tables).toEqual([{ name: 'public.t', rows: 2 }]);
      expect(outcome.refused).toContainEqual({
        entry: 'CREATE POLICY p_gone ON public.t',
        reason: expect.stringMatching(`role "${role}" does not exist`),
      });
      expect(outcome.commands?.[1]?.exitCode).toBe(1);
      expect(outcome.commands?.[1]?.stderrTail).toMatch(/errors ignored on restore: \d+/);
    } finally {
      await outcome.dispose?.();
    }
  });

  it('refuses to sample a plain dump, naming it', async () => {
    const src = source({ path: 'dumps/*.sql' });
    await expect(src.listItems(await onlySet(src), {})).rejects.toThrow(
      /sampling tables needs a custom, directory or tar dump; .*app-2026-01-01\.sql is plain SQL/,
    );
  });

  it('fails with a clear cause on a dump with flipped bytes, and leaves no scratch database', async () => {
    await mkdir(path.join(root, 'corrupt'), { recursive: true });
    const file = path.join(root, 'corrupt', 'app.dump');
    await cp(path.join(root, 'full-app.dump'), file);
    await flipMiddle(file);
    const scratchDir = await scratch();
    const src = source({ path: 'corrupt/*.dump' });
    const error = await src
      .restore(await onlySet(src), scratchDir, { items: null, log })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackupDamagedError);
    expect((error as Error).message).toMatch(
      /^dump .*app\.dump is damaged or not a pg_dump archive: could not uncompress data/,
    );
    // The commands run before and at the damage are kept: pg_restore -l, then the restore with its exit.
    const { partial, damage } = error as BackupDamagedError;
    expect(damage.detail).toMatch(/^could not uncompress data/);
    expect(partial.commands?.map((command) => command.exitCode)).toEqual([0, 1]);
    expect(partial.commands?.[1]?.stderrTail).toMatch(/could not uncompress data/);
    expect(await databaseExists(parseServerUrl(adminUrl), scratchDatabaseName(scratchDir))).toBe(
      false,
    );
  });

  it('fails a custom dump truncated at half, keeping the pg_restore stderr tail as evidence', async () => {
    await mkdir(path.join(root, 'cut-custom'), { recursive: true });
    const file = path.join(root, 'cut-custom', 'app.dump');
    await cp(path.join(root, 'full-app.dump'), file);
    await truncate(file, Math.floor((await stat(file)).size / 2));
    const scratchDir = await scratch();
    const src = source({ path: 'cut-custom/*.dump' });
    const error = await src
      .restore(await onlySet(src), scratchDir, { items: null, log })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackupDamagedError);
    const { partial, damage } = error as BackupDamagedError;
    expect(damage.detail).toMatch(/unexpected end of file|could not read|could not find block ID/);
    const restore = partial.commands?.at(-1);
    expect(restore?.command).toMatch(/^pg_restore /);
    expect(restore?.exitCode).toBe(1);
    expect(restore?.stderrTail).toContain(damage.detail);
    expect(await databaseExists(parseServerUrl(adminUrl), scratchDatabaseName(scratchDir))).toBe(
      false,
    );
  });

  it('fails a custom dump with one table data block removed, which pg_restore meets as another block', async () => {
    const dir = path.join(root, 'no-block');
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, 'app.dump');
    const whole = await readFile(path.join(root, 'full-app.dump'));
    const listed = await run('pg_restore', ['-l', path.join(root, 'full-app.dump')]);
    const dumpId = Number(/^(\d+); \d+ \d+ TABLE DATA public pgbench_branches /m.exec(listed)?.[1]);
    expect(dumpId).toBeGreaterThan(0);
    await writeFile(file, withoutDataBlock(whole, dumpId));
    const error = await restoreError(source({ path: 'no-block/*.dump' }));
    expect(error).toBeInstanceOf(BackupDamagedError);
    expect((error as BackupDamagedError).damage.detail).toMatch(
      new RegExp(`^found unexpected block ID \\(\\d+\\) when reading data -- expected ${dumpId}$`),
    );
  });

  it('fails a directory dump whose largest table file is truncated, naming the table', async () => {
    const dir = path.join(root, 'cut-dir', 'app.dir');
    await cp(path.join(root, 'dumps', 'app-2026-01-01.dir'), dir, { recursive: true });
    const sizes = await Promise.all(
      (await readdir(dir))
        .filter((name) => name !== 'toc.dat')
        .map(async (name) => ({ name, size: (await stat(path.join(dir, name))).size })),
    );
    const largest = sizes.sort((a, b) => b.size - a.size)[0]!;
    await truncate(path.join(dir, largest.name), Math.floor(largest.size / 2));
    const src = source({ path: 'cut-dir/*.dir' });
    const error = await restoreError(src);
    expect(error).toBeInstanceOf(BackupDamagedError);
    const { partial, damage } = error as BackupDamagedError;
    expect(damage.entry).toMatch(/^table public\.pgbench_accounts$/);
    expect(partial.commands?.at(-1)?.exitCode).toBe(1);
  });

  /** Cuts `file` at the last line break before its middle: whole rows stay, the `\\.` line goes. */
  async function cutBetweenRows(file: string): Promise<void> {
    const bytes = await readFile(file);
    await truncate(file, bytes.lastIndexOf(0x0a, Math.floor(bytes.length / 2)) + 1);
  }

  it('fails a -Z0 directory dump whose table data was cut between two rows, which pg_restore loads without a word', async () => {
    const dir = path.join(root, 'rows-cut', 'app.dir');
    await mkdir(path.dirname(dir), { recursive: true });
    await pgDump(sourceUrl, 'd', dir, ['-Z0']);
    const sizes = await Promise.all(
      (await readdir(dir))
        .filter((name) => /^\d+\.dat$/.test(name))
        .map(async (name) => ({ name, size: (await stat(path.join(dir, name))).size })),
    );
    const largest = sizes.sort((a, b) => b.size - a.size)[0]!;
    const src = source({ path: 'rows-cut/*.dir' });
    // Whole, it restores (pgbench_history is empty: its data is the \. line alone).
    const whole = await restoreAll(src);
    expect(whole.outcome.tables).toEqual(expected);
    await whole.outcome.dispose?.();
    await cutBetweenRows(path.join(dir, largest.name));
    const scratchDir = await scratch();
    const error = await src
      .restore(await onlySet(src), scratchDir, { items: null, log })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackupDamagedError);
    const { damage, partial } = error as BackupDamagedError;
    expect(damage).toEqual({
      detail: `${largest.name} ends without the \\. line that closes its COPY data: the data was cut short`,
      entry: 'table public.pgbench_accounts',
      offset: null,
    });
    // Judged from the files: pg_restore -l ran, nothing was restored or created.
    expect(partial.commands?.map((command) => command.command.split(' ')[1])).toEqual(['-l']);
    expect(await databaseExists(parseServerUrl(adminUrl), scratchDatabaseName(scratchDir))).toBe(
      false,
    );
  });

  it('passes a -Z0 directory dump of INSERT statements (--inserts), which has no \\. lines', async () => {
    const dir = path.join(root, 'inserts', 'app.dir');
    await mkdir(path.dirname(dir), { recursive: true });
    await pgDump(sourceUrl, 'd', dir, ['-Z0', '--inserts']);
    const { outcome } = await restoreAll(source({ path: 'inserts/*.dir' }));
    expect(outcome.tables).toEqual(expected);
    await outcome.dispose?.();
  });

  it('fails a tar dump cut short inside a member, which pg_restore loads in part and exits 0', async () => {
    const file = path.join(root, 'tar-cut', 'app.tar');
    await mkdir(path.dirname(file), { recursive: true });
    await cp(path.join(root, 'dumps', 'app-2026-01-01.tar'), file);
    const { size } = await stat(file);
    await truncate(file, Math.floor(size / 2));
    const error = await restoreError(source({ path: 'tar-cut/*.tar' }));
    expect(error).toBeInstanceOf(BackupDamagedError);
    const { damage } = error as BackupDamagedError;
    expect(damage.detail).toMatch(
      /^the file ends inside member \d+\.dat: \d+ of its \d+ bytes are there \(cut short\)$/,
    );
    expect(damage.entry).toMatch(/^table public\.pgbench_\w+$/);
    expect(damage.offset).toBe(Math.floor(size / 2));
  });

  it('fails a tar dump whose table data member was cut between rows, and one with a damaged member header', async () => {
    // Unpacked, one member cut between rows, packed again in pg_dump's order with GNU tar.
    const unpacked = path.join(root, 'tar-rows', 'members');
    await mkdir(unpacked, { recursive: true });
    const whole = path.join(root, 'dumps', 'app-2026-01-01.tar');
    const members = (await run('tar', ['-tf', whole], root)).trim().split('\n');
    await run('tar', ['-xf', whole, '-C', unpacked], root);
    const sizes = await Promise.all(
      members
        .filter((name) => /^\d+\.dat$/.test(name))
        .map(async (name) => ({ name, size: (await stat(path.join(unpacked, name))).size })),
    );
    const largest = sizes.sort((a, b) => b.size - a.size)[0]!;
    await cutBetweenRows(path.join(unpacked, largest.name));
    const repacked = path.join(root, 'tar-rows', 'app.tar');
    await run('tar', ['--format=ustar', '-cf', repacked, '-C', unpacked, ...members], root);
    const error = await restoreError(source({ path: 'tar-rows/*.tar' }));
    expect(error).toBeInstanceOf(BackupDamagedError);
    expect((error as BackupDamagedError).damage).toMatchObject({
      detail: `member ${largest.name} ends without the \\. line that closes its COPY data: the data was cut short`,
      entry: 'table public.pgbench_accounts',
    });

    // pg_dump's own archive with one header byte changed: the checksum no longer matches.
    await cp(whole, repacked);
    const bytes = await readFile(repacked);
    const second =
      512 + Math.ceil(Number.parseInt(bytes.toString('latin1', 124, 135), 8) / 512) * 512;
    await pokeByte(repacked, second + 100, 0x37); // the mode field of the second member
    const header = await restoreError(source({ path: 'tar-rows/*.tar' }));
    expect(header).toBeInstanceOf(BackupDamagedError);
    expect((header as BackupDamagedError).damage).toEqual({
      detail: `the tar header at byte ${second} is damaged (its checksum does not match)`,
      entry: null,
      offset: second,
    });
  });

  it("fails a custom dump whose ENCODING entry is garbled ('unrecognized encoding'), not as an error of the drill", async () => {
    await mkdir(path.join(root, 'garbled'), { recursive: true });
    const file = path.join(root, 'garbled', 'app.dump');
    await cp(path.join(root, 'dumps', 'app-2026-01-01.dump'), file);
    const offset =
      (await readFile(file)).indexOf("client_encoding = '") + "client_encoding = '".length;
    await pokeByte(file, offset + 1, 0xf8);
    const src = source({ path: 'garbled/*.dump' });
    const error = await restoreError(src);
    expect(error).toBeInstanceOf(BackupDamagedError);
    expect((error as BackupDamagedError).damage.detail).toMatch(/^unrecognized encoding "/);
  });

  it.each([
    [
      'encoding',
      "client_encoding = '",
      -1,
      '#',
      /^invalid ENCODING item: SET client_encoding = #UTF8';$/,
    ],
    [
      'stdstrings',
      "standard_conforming_strings = 'o",
      0,
      'j',
      /^invalid STDSTRINGS item: SET standard_conforming_strings = 'oj';$/,
    ],
    // Byte 10 of the header is the archive's format: custom is 1.
    ['format', '', 10, '\x05', /^expected format \(1\) differs from format found in file \(5\)$/],
  ])(
    'fails a custom dump whose %s entry of the table of contents is garbled, as pg_restore -l reads it',
    async (name, anchor, shift, replacement, detail) => {
      await mkdir(path.join(root, `garbled-${name}`), { recursive: true });
      const file = path.join(root, `garbled-${name}`, 'app.dump');
      await cp(path.join(root, 'dumps', 'app-2026-01-01.dump'), file);
      const offset = (await readFile(file)).indexOf(anchor) + anchor.length + shift;
      await pokeByte(file, offset, replacement.charCodeAt(0));
      const error = await restoreError(source({ path: `garbled-${name}/*.dump` }));
      expect(error).toBeInstanceOf(BackupDamagedError);
      expect((error as BackupDamagedError).damage.detail).toMatch(detail);
    },
  );

  it('fails a custom dump whose table of contents makes pg_restore -l crash, keeping that command', async () => {
    await mkdir(path.join(root, 'crashing'), { recursive: true });
    const file = path.join(root, 'crashing', 'app.dump');
    await cp(path.join(root, 'dumps', 'app-2026-01-01.dump'), file);
    // The high byte of a string length in the TOC, right after the ENCODING entry: a 4 GB string.
    const bytes = await readFile(file);
    const length = bytes.indexOf('false', bytes.indexOf('client_encoding')) - 1;
    await pokeByte(file, length, 0xff);
    const src = source({ path: 'crashing/*.dump' });
    const error = await restoreError(src);
    expect(error).toBeInstanceOf(BackupDamagedError);
    const { damage, partial } = error as BackupDamagedError;
    expect(damage.detail).toMatch(
      /^pg_restore -l crashed \(SIG[A-Z]+\) reading the table of contents$/,
    );
    expect(partial.commands?.map((command) => command.command)).toEqual([
      expect.stringMatching(/^pg_restore -l /),
    ]);
  });

  it('says a dump was made by a newer pg_dump than the pg_restore there is', async () => {
    await mkdir(path.join(root, 'newer'), { recursive: true });
    const file = path.join(root, 'newer', 'app.dump');
    await cp(path.join(root, 'dumps', 'app-2026-01-01.dump'), file);
    // Archive format 1.16 (byte 6 is the minor version), as a newer pg_dump writes it.
    await pokeByte(file, 6, 16);
    const src = source({ path: 'newer/*.dump' });
    await expect(
      src.restore(await onlySet(src), await scratch(), { items: null, log }),
    ).rejects.toThrow(
      /^dump .*app\.dump was made by a newer pg_dump than pg_restore 15\.\d+ \(archive format 1\.16\)/,
    );
  });

  describe('a large object statement of the archive garbled (pg_restore runs it, and stops)', () => {
    let garbled: Buffer;
    beforeAll(async () => {
      const withObject = await createTestDatabase();
      await query(
        withObject,
        "create table docs (id int, body oid); insert into docs values (1, lo_from_bytea(0, 'x'))",
      );
      const dump = await pgDump(withObject, 'c', path.join(root, 'lo-statement.dump'));
      const bytes = await readFile(dump);
      const at = bytes.indexOf('SELECT pg_catalog.lo_create');
      expect(at).toBeGreaterThan(0);
      bytes.write('SELACT', at);
      garbled = bytes;
    });

    it('fails it as damaged when the dump is no newer than the server, naming the error', async () => {
      await mkdir(path.join(root, 'lo-garbled'), { recursive: true });
      await writeFile(path.join(root, 'lo-garbled', 'app.dump'), garbled);
      const error = await restoreError(source({ path: 'lo-garbled/*.dump' }));
      expect(error).toBeInstanceOf(BackupDamagedError);
      expect((error as BackupDamagedError).damage.detail).toBe(
        'ERROR:  syntax error at or near "SELACT"',
      );
    });

    it('fails a dump whose large object entry creates another OID than its data names', async () => {
      await mkdir(path.join(root, 'lo-oid'), { recursive: true });
      const bytes = Buffer.from(garbled);
      bytes.write('SELECT', bytes.indexOf('SELACT pg_catalog.lo_create'));
      // The last digit of the OID lo_create makes: the data block still names the first.
      const digit = bytes.indexOf("')", bytes.indexOf('pg_catalog.lo_create')) - 1;
      bytes[digit] = bytes[digit] === 0x39 ? 0x38 : (bytes[digit] as number) + 1;
      await writeFile(path.join(root, 'lo-oid', 'app.dump'), bytes);
      const error = await restoreError(source({ path: 'lo-oid/*.dump' }));
      expect(error).toBeInstanceOf(BackupDamagedError);
      expect((error as BackupDamagedError).damage.detail).toMatch(
        /^could not open large object \d+: ERROR:\s+large object \d+ does not exist$/,
      );
    });

    it('does not judge it when a newer pg_dump made the dump', async () => {
      await mkdir(path.join(root, 'lo-garbled-newer'), { recursive: true });
      // Both version strings of the header (server, then pg_dump) say 99.
      const newer = Buffer.from(garbled);
      let at = -1;
      while ((at = newer.indexOf('15.', at + 1)) !== -1 && at < 200) newer.write('99.', at);
      await writeFile(path.join(root, 'lo-garbled-newer', 'app.dump'), newer);
      const error = await restoreError(source({ path: 'lo-garbled-newer/*.dump' }));
      expect(error).toBeInstanceOf(SourceError);
      expect((error as Error).message).toMatch(
        /syntax error at or near "SELACT"; pg_dump 99 made the dump and it was restored into PostgreSQL 15/,
      );
    });
  });

  it('fails a directory dump whose TOC names a data file the folder lacks (a garbled name)', async () => {
    const dir = path.join(root, 'garbled-name', 'app.dir');
    await mkdir(path.dirname(dir), { recursive: true });
    await cp(path.join(root, 'dumps', 'app-2026-01-01.dir'), dir, { recursive: true });
    const toc = await readFile(path.join(dir, 'toc.dat'));
    const at = toc.indexOf('.dat');
    expect(at).toBeGreaterThan(0);
    toc.write('.det', at);
    await writeFile(path.join(dir, 'toc.dat'), toc);
    const error = await restoreError(source({ path: 'garbled-name/app.dir', format: 'directory' }));
    expect(error).toBeInstanceOf(BackupDamagedError);
    expect((error as BackupDamagedError).damage.detail).toMatch(
      /^could not open input file ".*garbled-name\/app\.dir\/\d+\.det": No such file or directory$/,
    );
  });

  it('fails a dump whose header gives an archive format no pg_dump writes (major version not 1) as damaged', async () => {
    await mkdir(path.join(root, 'bad-major'), { recursive: true });
    const file = path.join(root, 'bad-major', 'app.dump');
    await cp(path.join(root, 'dumps', 'app-2026-01-01.dump'), file);
    await pokeByte(file, 5, 5); // byte 5 is the major version
    const error = await restoreError(source({ path: 'bad-major/*.dump' }));
    expect(error).toBeInstanceOf(BackupDamagedError);
    expect((error as BackupDamagedError).damage.detail).toMatch(
      /^its header gives archive format 5\.\d+, which no pg_dump writes \(1\.x\)$/,
    );
  });

  it('maps the newer-version message of a configured pg_restore binary', async () => {
    const src = source({ path: 'dumps/*.dump', pgRestore: FAKE_NEWER });
    await expect(
      src.restore(await onlySet(src), await scratch(), { items: null, log }),
    ).rejects.toThrow('was made by a newer pg_dump than pg_restore 15.18 (archive format 1.16)');
  });

  it('keeps the commands run up to a failure with their exits and stderr tails: pg_restore -l, then the restore', async () => {
    const newer = path.join(root, 'newer-kept');
    await mkdir(newer, { recursive: true });
    await cp(path.join(root, 'dumps', 'app-2026-01-01.dump'), path.join(newer, 'app.dump'));
    await pokeByte(path.join(newer, 'app.dump'), 6, 16);
    const src = source({ path: 'newer-kept/*.dump' });
    const listing = await src
      .restore(await onlySet(src), await scratch(), { items: null, log })
      .catch((e: unknown) => e);
    expect(listing).toBeInstanceOf(SourceError);
    expect(
      (listing as SourceError).commands.map((command) => [command.command, command.exitCode]),
    ).toEqual([[expect.stringMatching(/^pg_restore -l .*app\.dump$/), 1]]);
    expect((listing as SourceError).commands[0]?.stderrTail).toMatch(/unsupported version/);

    // Past the listing: pg_restore itself stopped at the timeout.
    const slow = source({ path: 'dumps/*.dump', timeout: '1ms' });
    const restore = (await slow
      .restore(await onlySet(slow), await scratch(), { items: null, log })
      .catch((e: unknown) => e)) as SourceError;
    expect(restore).toBeInstanceOf(SourceError);
    expect(restore.commands.map((command) => command.command.split(' ').slice(0, 2))).toEqual([
      ['pg_restore', '-l'],
      ['pg_restore', '--no-owner'],
    ]);
    expect(restore.commands.map((command) => [command.exitCode, command.timedOut])).toEqual([
      [0, false],
      [null, true],
    ]);
  });

  it('fails a plain dump with a garbled statement as damaged, naming the line and keeping the psql run', async () => {
    const src = source({ path: await editedPlainDump('garbled', garbleCreateTable) });
    const dir = await scratch();
    const error = (await src
      .restore(await onlySet(src), dir, { items: null, log })
      .catch((e: unknown) => e)) as BackupDamagedError;
    expect(error).toBeInstanceOf(BackupDamagedError);
    expect(error.message).toMatch(
      /^plain dump .*garbled\/app\.sql line \d+: ERROR: syntax error at or near "TABLEAU"$/,
    );
    expect(error.damage.entry).toMatch(/^line \d+$/);
    const commands = error.outcome().commands ?? [];
    expect(commands).toHaveLength(1);
    expect(commands[0]?.command).toMatch(/^psql -X -q .* -f .*app\.sql$/);
    expect(commands[0]?.exitCode).toBe(3);
    expect(commands[0]?.stderrTail).toMatch(/ERROR:\s+42601: syntax error at or near "TABLEAU"/);
    expect(await databaseExists(parseServerUrl(adminUrl), scratchDatabaseName(dir))).toBe(false);
  });

  it.each([
    [
      "a value that is not its column's type",
      badCopyValue,
      /invalid input syntax for type integer: "x" \(COPY pgbench_accounts, line 1, column abalance: "x"\)$/,
    ],
    [
      'a row with a column missing',
      missingCopyColumn,
      /missing data for column "filler" \(COPY pgbench_accounts, line 1/,
    ],
  ])(
    'fails a plain dump whose COPY data holds %s as damaged, naming the table and row',
    async (_, edit, detail) => {
      const src = source({ path: await editedPlainDump(`copy-${edit.name}`, edit) });
      const error = await restoreError(src);
      expect(error).toBeInstanceOf(BackupDamagedError);
      expect((error as BackupDamagedError).damage.detail).toMatch(detail);
    },
  );

  it('fails a UTF8 plain dump holding a byte that is not UTF-8 as damaged, before running psql', async () => {
    const error = await restoreError(source({ path: await editedPlainDump('utf8', invalidUtf8) }));
    expect(error).toBeInstanceOf(BackupDamagedError);
    expect((error as BackupDamagedError).message).toMatch(
      /^plain dump .*utf8\/app\.sql line (\d+): byte \d+ \(line \1\) is not UTF-8, the dump's declared encoding: the dump is damaged$/,
    );
    expect((error as BackupDamagedError).outcome().commands ?? []).toEqual([]);
  });

  it('does not judge a garbled statement when the dump comes from a newer pg_dump than the server', async () => {
    const src = source({
      path: await editedPlainDump('newer', (text) => fromPgDump(99, garbleCreateTable(text))),
    });
    const error = await restoreError(src);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as Error).message).toMatch(
      /line \d+: ERROR: syntax error at or near "TABLEAU"; pg_dump 99 made the dump and it was restored into PostgreSQL \d+: restore it into PostgreSQL 99 or newer to judge it$/,
    );
  });

  it('does not judge a plain dump that needs what the scratch server lacks (a role)', async () => {
    const src = source({
      path: await editedPlainDump('role', (text) =>
        text.replace(/^(CREATE TABLE public\.pgbench_accounts)/m, 'SET ROLE no_such_role;\n$1'),
      ),
    });
    const error = await restoreError(src);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as Error).message).toMatch(/ERROR: role "no_such_role" does not exist$/);
  });

  it("refuses a scratch database name equal to the dump's source database", async () => {
    const dir = await scratch('clash');
    const name = scratchDatabaseName(dir);
    // A source database that happens to bear the generated name.
    const file = path.join(root, 'clash.dump');
    await query(adminUrl, `create database ${name}`);
    const clashing = adminUrl.replace(/\/postgres$/, `/${name}`);
    await query(clashing, 'create table t (id int); insert into t values (1)');
    await pgDump(clashing, 'c', file);
    await query(adminUrl, `drop database ${name}`);
    const src = source({ path: 'clash.dump' });
    await expect(src.restore(await onlySet(src), dir, { items: null, log })).rejects.toThrow(
      `refusing scratch database '${name}': it has the name of a source database ('${name}')`,
    );
    expect(await databaseExists(parseServerUrl(adminUrl), name)).toBe(false);
  });

  it('refuses to restore into a database that already exists, and leaves it alone', async () => {
    const dir = await scratch();
    const name = scratchDatabaseName(dir);
    await query(adminUrl, `create database ${name}`);
    const src = source({ path: 'dumps/*.dump' });
    await expect(src.restore(await onlySet(src), dir, { items: null, log })).rejects.toThrow(
      `refusing to restore into database '${name}' on scratch server 127.0.0.1:`,
    );
    expect(await databaseExists(parseServerUrl(adminUrl), name)).toBe(true);
    await query(adminUrl, `drop database ${name}`);
  });

  it('refuses a plain dump made with --create --clean before running anything', async () => {
    await pgDump(sourceUrl, 'p', path.join(root, 'create.sql'), ['--create', '--clean']);
    const src = source({ path: 'create.sql' });
    await expect(
      src.restore(await onlySet(src), await scratch(), { items: null, log }),
    ).rejects.toThrow(
      /plain dump .*create\.sql line \d+: DROP DATABASE would act outside the scratch database/,
    );
  });

  it('says a truncated plain dump is truncated, before creating anything', async () => {
    await writeFile(
      path.join(root, 'cut.sql'),
      'CREATE TABLE t (id int);\nCOPY t FROM stdin;\n1\n2\n',
    );
    const dir = await scratch();
    const src = source({ path: 'cut.sql' });
    const error = await src
      .restore(await onlySet(src), dir, { items: null, log })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackupDamagedError);
    expect((error as Error).message).toMatch(
      /^plain dump .*cut\.sql line 4: the file ends inside COPY data \(no \\\. line\): the dump is truncated$/,
    );
    expect((error as BackupDamagedError).damage.entry).toBe('line 4');
    expect(await databaseExists(parseServerUrl(adminUrl), scratchDatabaseName(dir))).toBe(false);
  });

  it('fails a pg_dump plain dump cut at a statement boundary, which psql loads without a word', async () => {
    const dir = await scratch();
    const src = source({ path: await editedPlainDump('cut-boundary', cutAfterAccounts) });
    const error = await src
      .restore(await onlySet(src), dir, { items: null, log })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackupDamagedError);
    expect((error as Error).message).toMatch(
      /^plain dump .*app\.sql line \d+: the dump ends after this line, without the '-- PostgreSQL database dump complete' comment pg_dump writes last: it was cut short$/,
    );
    expect(await databaseExists(parseServerUrl(adminUrl), scratchDatabaseName(dir))).toBe(false);
    // Hand-written SQL (no pg_dump opening comment) is not held to pg_dump's ending.
    await writeFile(
      path.join(root, 'hand.sql'),
      'CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n',
    );
    const hand = source({ path: 'hand.sql' });
    const outcome = await hand.restore(await onlySet(hand), await scratch(), { items: null, log });
    try {
      expect(outcome.tables).toEqual([{ name: 'public.t', rows: 1 }]);
    } finally {
      await outcome.dispose?.();
    }
  });

  it('says the scratch server is unreachable', async () => {
    const src = source({
      path: 'dumps/*.dump',
      scratchServer: { url: 'postgres://postgres@127.0.0.1:1/postgres' },
    });
    await expect(
      src.restore(await onlySet(src), await scratch(), { items: null, log }),
    ).rejects.toThrow(/^scratch server 127\.0\.0\.1:1 is unreachable: .*ECONNREFUSED/);
  });

  it('stops pg_restore at the configured timeout and drops the scratch database', async () => {
    const dir = await scratch();
    const src = source({ path: 'dumps/*.dump', timeout: '1ms' });
    const error = await src
      .restore(await onlySet(src), dir, { items: null, log })
      .catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/timed out after/);
    expect(await databaseExists(parseServerUrl(adminUrl), scratchDatabaseName(dir))).toBe(false);
  });

  it('rejects an archive dump without a scratch server in the config', () => {
    const parsed = postgresSourceConfigSchema.safeParse({
      kind: 'postgres',
      path: 'x.dump',
      format: 'custom',
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(['scratchServer']);
    expect(parsed.error?.issues[0]?.message).toMatch(/set scratchServer\.url/);
  });

  it('refuses an archive dump found by auto-detection when no scratch server is configured', async () => {
    const parsed = postgresSourceConfigSchema.parse({ kind: 'postgres', path: 'dumps/*.dump' });
    const src = new PostgresSource(parsed, { configDir: root, log });
    await expect(
      src.restore(await onlySet(src), await scratch(), { items: null, log }),
    ).rejects.toThrow(/is in custom format: restoring it needs pg_restore and a scratch server/);
  });
});

describe('postgres source with password authentication', () => {
  let server: PostgresServer;
  let passwordUrl: string;

  beforeAll(async () => {
    server = await startPostgresServer();
    await query(server.adminUrl, "alter role postgres password 'right-password'");
    const hba = path.join(server.dir, 'data', 'pg_hba.conf');
    await writeFile(hba, `local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n`);
    await query(
      `postgres://postgres@/postgres?host=${server.dir}&port=${server.port}`,
      'select pg_reload_conf()',
    );
    passwordUrl = `postgres://postgres:right-password@127.0.0.1:${server.port}/postgres`;
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('restores with the password passed through PGPASSWORD, never in the recorded command', async () => {
    const src = source({ path: 'dumps/*.dump', scratchServer: { url: passwordUrl } });
    const { outcome } = await restoreAll(src);
    try {
      expect(outcome.tables).toEqual(expected);
      expect(JSON.stringify(outcome.commands)).not.toContain('right-password');
    } finally {
      await outcome.dispose?.();
    }
  });

  it('says the scratch server rejected the credentials on a wrong password', async () => {
    const src = source({
      path: 'dumps/*.dump',
      scratchServer: { url: passwordUrl.replace('right-password', 'wrong-password') },
    });
    const error = await restoreError(src);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as Error).message).toMatch(
      /^scratch server 127\.0\.0\.1:\d+ rejected the credentials of user 'postgres': password authentication failed/,
    );
    expect((error as Error).message).not.toContain('wrong-password');
  });
});

describe('postgres source into embedded PGlite', () => {
  it('loads a plain dump into PGlite when no scratch server is configured, with exact counts', async () => {
    const parsed = postgresSourceConfigSchema.parse({ kind: 'postgres', path: 'dumps/*.sql' });
    const src = new PostgresSource(parsed, { configDir: root, log });
    const { outcome, scratchDir } = await restoreAll(src);
    try {
      expect(outcome.tables).toEqual(expected);
      expect(outcome.database?.location).toBe(`pglite:${path.join(scratchDir, 'pglite')}`);
      const names = await outcome.database!.readOnly(
        (q) => q('select count(*)::int as n from pgbench_branches'),
        { statementTimeoutMs: 0 },
      );
      expect(names.rows[0]?.n).toBe(1);
    } finally {
      await outcome.dispose?.();
    }
  });

  it('loads a plain dump that creates contrib extensions PGlite ships (pg_trgm, uuid-ossp, citext, hstore), using them', async () => {
    const withExtensions = await createTestDatabase();
    await query(
      withExtensions,
      `create extension pg_trgm; create extension "uuid-ossp"; create extension citext;
       create schema ext; create extension hstore with schema ext;
       create table people (id uuid primary key default uuid_generate_v4(), email citext unique,
         attrs ext.hstore, bio text);
       create index people_bio on people using gin (bio gin_trgm_ops);
       insert into people (email, attrs, bio)
         select 'User' || i || '@Example.org', ext.hstore('n', i::text), 'bio of person ' || i
         from generate_series(1, 50) as i;`,
    );
    await mkdir(path.join(root, 'extensions'), { recursive: true });
    await pgDump(withExtensions, 'p', path.join(root, 'extensions', 'app.sql'), ['--no-owner']);
    const parsed = postgresSourceConfigSchema.parse({ kind: 'postgres', path: 'extensions/*.sql' });
    const { outcome } = await restoreAll(new PostgresSource(parsed, { configDir: root, log }));
    try {
      expect(outcome.tables).toEqual([{ name: 'public.people', rows: 50 }]);
      expect(outcome.database?.location).toMatch(/^pglite:/);
      const found = await outcome.database!.readOnly(
        (q) =>
          q(
            "select count(*)::int as n from public.people where email = 'user7@example.org' and bio % 'bio of person 7'",
          ),
        { statementTimeoutMs: 0 },
      );
      expect(found.rows[0]?.n).toBe(1);
    } finally {
      await outcome.dispose?.();
    }
  });

  /** The embedded source over an edited copy of the plain dump. */
  async function embedded(
    name: string,
    edit: (text: string) => string | Buffer,
  ): Promise<PostgresSource> {
    const parsed = postgresSourceConfigSchema.parse({
      kind: 'postgres',
      path: await editedPlainDump(`embedded-${name}`, edit),
    });
    return new PostgresSource(parsed, { configDir: root, log });
  }

  it('fails a plain dump with a garbled statement or bad COPY data as damaged', async () => {
    const garbled = await restoreError(await embedded('garbled', garbleCreateTable));
    expect(garbled).toBeInstanceOf(BackupDamagedError);
    expect((garbled as Error).message).toMatch(
      /^plain dump .*app\.sql line \d+: syntax error at or near "TABLEAU"$/,
    );
    const badValue = await restoreError(await embedded('bad-value', badCopyValue));
    expect(badValue).toBeInstanceOf(BackupDamagedError);
    expect((badValue as BackupDamagedError).damage.detail).toMatch(
      /invalid input syntax for type integer: "x" \(COPY pgbench_accounts, line 1, column abalance: "x"\)$/,
    );
  });

  it('fails a pg_dump plain dump cut at a statement boundary', async () => {
    const error = await restoreError(await embedded('cut-boundary', cutAfterAccounts));
    expect(error).toBeInstanceOf(BackupDamagedError);
    expect((error as BackupDamagedError).damage.detail).toBe(
      "the dump ends after this line, without the '-- PostgreSQL database dump complete' comment pg_dump writes last: it was cut short",
    );
  });

  it('fails a UTF8 plain dump holding a byte that is not UTF-8 as damaged, never loading U+FFFD in its place', async () => {
    const error = await restoreError(await embedded('utf8', invalidUtf8));
    expect(error).toBeInstanceOf(BackupDamagedError);
    expect((error as BackupDamagedError).damage.detail).toMatch(
      /^byte \d+ \(line \d+\) is not UTF-8, the dump's declared encoding: the dump is damaged$/,
    );
  });

  it('does not judge a garbled statement from a newer pg_dump than the embedded PostgreSQL', async () => {
    const error = await restoreError(
      await embedded('newer', (text) => fromPgDump(99, garbleCreateTable(text))),
    );
    expect(error).toBeInstanceOf(SourceError);
    expect((error as Error).message).toMatch(
      /syntax error at or near "TABLEAU"; pg_dump 99 made the dump and it was restored into PostgreSQL 1\d: restore it into PostgreSQL 99 or newer to judge it$/,
    );
  });

  it('names the line of a statement that fails to load', async () => {
    const broken = path.join(root, 'broken.sql');
    await writeFile(
      broken,
      [
        '\\restrict abc',
        'CREATE TABLE public.fine (id int);',
        '',
        '-- Name: oops',
        'CREATE TABLE no_such_schema.oops (',
        '    id int',
        ');',
        '\\unrestrict abc',
        '',
      ].join('\n'),
    );
    const parsed = postgresSourceConfigSchema.parse({ kind: 'postgres', path: 'broken.sql' });
    const src = new PostgresSource(parsed, { configDir: root, log });
    await expect(
      src.restore(await onlySet(src), await scratch(), { items: null, log }),
    ).rejects.toThrow(/^plain dump .*broken\.sql line 5: schema "no_such_schema" does not exist$/);
    // The dump needs a schema it does not create: the drill cannot judge it.
    expect(await restoreError(src)).toBeInstanceOf(SourceError);
  });
});

import { randomBytes } from 'node:crypto';
import { mkdir, stat, truncate } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import { SourceError, type BackupSet } from '../../src/model/restore.js';
import { PostgresSource } from '../../src/sources/postgres-source.js';
import { postgresSourceConfigSchema } from '../../src/sources/postgres-source-config.js';
import { countTables } from '../../src/sources/postgres/table-counts.js';
import { BackupDamagedError } from '../../src/sources/restore-source.js';
import { run } from '../helpers/artefacts.js';
import { createPgbenchDatabase, pgDump, query } from '../helpers/pg-dumps.js';
import { tempDir } from '../helpers/temp.js';

const log = silentLogger();
let root: string;
let adminUrl: string;
let expected: { name: string; rows: number }[];

/** The source over `dir/*`, into the scratch server or (`server: false`) PGlite. */
function source(dir: string, server = true): PostgresSource {
  const parsed = postgresSourceConfigSchema.parse({
    kind: 'postgres',
    path: path.join(dir, '*'),
    ...(server ? { scratchServer: { url: adminUrl } } : {}),
  });
  return new PostgresSource(parsed, { configDir: root, log });
}

async function scratch(): Promise<string> {
  const dir = path.join(root, 'scratch', `pgz-20260101T030000Z-${randomBytes(4).toString('hex')}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

async function onlySet(src: PostgresSource): Promise<BackupSet> {
  const sets = await src.listSets({});
  expect(sets).toHaveLength(1);
  return sets[0]!;
}

/** `pg_dump db | <tool> > dir/name`, made from the plain dump with the tool itself. */
async function compressed(tool: string[], name: string): Promise<string> {
  const dir = path.join(root, name);
  await mkdir(dir);
  const plain = path.join(dir, 'app.sql');
  await run('cp', [path.join(root, 'app.sql'), plain]);
  await run(tool[0]!, [...tool.slice(1), plain]);
  return dir;
}

let sourceUrl: string;
let gz: string;
let zst: string;
let xz: string;
let bz2: string;

beforeAll(async () => {
  root = await tempDir('restore-drill-pgz-');
  adminUrl = inject('postgres').adminUrl;
  sourceUrl = await createPgbenchDatabase();
  expected = await countTables(async (text) => ({
    rows: await query(sourceUrl, text),
    fields: [],
  }));
  await pgDump(sourceUrl, 'p', path.join(root, 'app.sql'));
  gz = await compressed(['gzip'], 'gz');
  zst = await compressed(['zstd', '-q', '--rm'], 'zst');
  xz = await compressed(['xz'], 'xz');
  bz2 = await compressed(['bzip2'], 'bz2');
});

describe('postgres source over compressed plain dumps', () => {
  // PGlite reads xz and bzip2 through the same tool stream as zstd: loading them there too would only cost time.
  for (const [kind, dir, pglite] of [
    ['gzip', () => gz, true],
    ['zstd', () => zst, true],
    ['xz', () => xz, false],
    ['bzip2', () => bz2, false],
  ] as const) {
    it(`restores a ${kind}-compressed plain dump into the scratch server with exact counts`, async () => {
      const src = source(dir());
      const outcome = await src.restore(await onlySet(src), await scratch(), { items: null, log });
      try {
        expect(outcome.tables).toEqual(expected);
      } finally {
        await outcome.dispose?.();
      }
    });

    if (pglite)
      it(`loads a ${kind}-compressed plain dump into PGlite with exact counts`, async () => {
        const src = source(dir(), false);
        const outcome = await src.restore(await onlySet(src), await scratch(), {
          items: null,
          log,
        });
        try {
          expect(outcome.tables).toEqual(expected);
        } finally {
          await outcome.dispose?.();
        }
      });
  }

  it('fails a truncated .sql.gz, naming it, on the server and in PGlite', async () => {
    const dir = path.join(root, 'cut');
    await mkdir(dir);
    const dump = path.join(dir, 'app.sql.gz');
    await run('cp', [path.join(gz, 'app.sql.gz'), dump]);
    await truncate(dump, Math.floor((await stat(dump)).size / 2));
    for (const server of [true, false]) {
      const src = source(dir, server);
      const restore = src.restore(await onlySet(src), await scratch(), { items: null, log });
      await expect(restore).rejects.toThrow(BackupDamagedError);
      await expect(restore).rejects.toThrow(`plain dump ${dump}: corrupt gzip data (`);
    }
  });

  it.each([
    ['xz', () => path.join(xz, 'app.sql.xz')],
    ['bzip2', () => path.join(bz2, 'app.sql.bz2')],
  ])(
    'fails a truncated %s plain dump as damage, naming the dump and the tool',
    async (kind, file) => {
      const dir = path.join(root, `cut-${kind}`);
      await mkdir(dir);
      const dump = path.join(dir, path.basename(file()));
      await run('cp', [file(), dump]);
      await truncate(dump, Math.floor((await stat(dump)).size / 2));
      const src = source(dir);
      const restore = src.restore(await onlySet(src), await scratch(), { items: null, log });
      await expect(restore).rejects.toThrow(BackupDamagedError);
      await expect(restore).rejects.toThrow(`plain dump ${dump}: corrupt ${kind} data (${kind}: `);
    },
  );

  it('refuses a gzip-compressed custom dump with the reason', async () => {
    const dir = path.join(root, 'custom');
    await mkdir(dir);
    const sourceDump = path.join(dir, 'app.dump');
    await pgDump(sourceUrl, 'c', sourceDump);
    await run('gzip', [sourceDump]);
    const src = source(dir);
    await expect(
      src.restore(await onlySet(src), await scratch(), { items: null, log }),
    ).rejects.toThrow(
      `dump ${sourceDump}.gz is a custom-format dump compressed with gzip; pg_restore reads it only uncompressed`,
    );
  });

  it('is an error naming zstd when it is not installed', async () => {
    const src = source(zst, false);
    const set = await onlySet(src);
    const saved = process.env.PATH;
    process.env.PATH = await tempDir('restore-drill-path-');
    try {
      const restore = src.restore(set, await scratch(), { items: null, log });
      await expect(restore).rejects.toThrow(SourceError);
      await expect(restore).rejects.toThrow(
        /zstd-compressed and zstd cannot be run .*; install zstd$/,
      );
    } finally {
      process.env.PATH = saved;
    }
  });
});

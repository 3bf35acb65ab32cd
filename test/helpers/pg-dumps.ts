import { open } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { findPostgresBinDir } from './postgres-server.js';
import { run } from './artefacts.js';
import { createTestDatabase } from './test-database.js';

/** A fresh database on the test server with pgbench's schema and data (`pgbench -i -s 1`: 100,000 accounts). */
export async function createPgbenchDatabase(): Promise<string> {
  const url = await createTestDatabase();
  await run(path.join(await findPostgresBinDir(), 'pgbench'), ['-i', '-s', '1', '-q', url]);
  return url;
}

/** Runs the real pg_dump of the PostgreSQL binaries found for the test server. */
export async function pgDump(
  url: string,
  format: 'c' | 'd' | 'p' | 't',
  out: string,
  extra: string[] = [],
): Promise<string> {
  await run(path.join(await findPostgresBinDir(), 'pg_dump'), [
    `-F${format}`,
    '-f',
    out,
    ...extra,
    url,
  ]);
  return out;
}

/** Runs SQL on a database and returns the rows. */
export async function query(url: string, text: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

/** Every scratch database left on the server. */
export async function scratchDatabases(adminUrl: string): Promise<string[]> {
  const rows = await query(
    adminUrl,
    "select datname from pg_database where datname like 'restore\\_drill\\_%' order by 1",
  );
  return rows.map((row) => String(row.datname));
}

/** Inverts `count` bytes in the middle of a file, keeping its size. */
export async function flipMiddle(file: string, count = 16): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const { size } = await handle.stat();
    const at = Math.floor(size / 2);
    const bytes = Buffer.alloc(count);
    await handle.read(bytes, 0, count, at);
    for (let i = 0; i < count; i++) bytes[i] = (bytes[i] ?? 0) ^ 0xff;
    await handle.write(bytes, 0, count, at);
  } finally {
    await handle.close();
  }
}

/** Overwrites one byte of a file. */
export async function pokeByte(file: string, offset: number, value: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    await handle.write(Buffer.from([value]), 0, 1, offset);
  } finally {
    await handle.close();
  }
}

import { readdirSync, statSync } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { Database } from './database.js';

/**
 * Makes committed evidence durable. PGlite runs PostgreSQL with fsync off and its
 * filesystem layer's fsync does nothing, so the embedded store syncs its files itself;
 * a PostgreSQL server syncs its own, and its stores register nothing here.
 */
const syncs = new WeakMap<Kysely<Database>, () => Promise<number>>();

/** Registers how `db`'s committed writes reach the disk (the embedded store only). */
export function registerEvidenceSync(db: Kysely<Database>, sync: () => Promise<number>): void {
  syncs.set(db, sync);
}

/**
 * Call after an evidence append commits, before reporting it recorded. Returns how
 * many files and folders were synced: 0 for a PostgreSQL store (or a transaction
 * handle: its caller syncs once the transaction commits).
 */
export async function syncEvidence(db: object): Promise<number> {
  const sync = syncs.get(db as Kysely<Database>);
  return sync === undefined ? 0 : sync();
}

/** fsync of a file or folder by path: a folder's, after a rename into it, keeps the new name. */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** What a file looked like when last synced: a change in size or mtime means unsynced writes. */
type Seen = Map<string, string>;

function stamp(size: number, mtimeNs: bigint): string {
  return `${size}:${mtimeNs}`;
}

/**
 * Syncs the WAL segments of `dataDir` written since the last call, then the pg_wal
 * folder. After a commit the WAL holds the record, so this is what makes it survive a
 * power loss; data pages are synced at close (`syncDataDir`).
 */
export function walSyncer(dataDir: string): () => Promise<number> {
  const walDir = join(dataDir, 'pg_wal');
  const seen: Seen = new Map();
  return async () => {
    let synced = 0;
    for (const entry of await readdir(walDir, { withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const path = join(walDir, entry.name);
      const info = await stat(path, { bigint: true });
      const now = stamp(Number(info.size), info.mtimeNs);
      if (seen.get(path) === now) continue;
      await fsyncPath(path);
      seen.set(path, now);
      synced += 1;
    }
    await fsyncPath(walDir);
    return synced + 1;
  };
}

/**
 * Syncs every file and folder of `dataDir` changed since `since` (ms), walking it once: run
 * after PGlite's close, whose shutdown checkpoint wrote the data pages. A folder's mtime moves
 * when an entry is created, renamed or removed in it, so one older than `since` holds no name
 * that still needs syncing. The walk is synchronous: a store holds about a thousand files, and
 * a promise per `stat` cost 60-80 ms of CPU at every close where this costs a few.
 */
export async function syncDataDir(dataDir: string, since: number): Promise<number> {
  const files: string[] = [];
  const folders: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && statSync(path).mtimeMs >= since) files.push(path);
    }
    if (statSync(dir).mtimeMs >= since) folders.push(dir);
  };
  walk(dataDir);
  await syncEach(files);
  // A folder is synced once the files named in it are.
  await syncEach(folders);
  return files.length + folders.length;
}

/**
 * How many fsyncs run at once. A new store has about a thousand files: one after another,
 * each waited for its own journal commit (0.4 s on an idle disk); side by side, the file
 * system commits them together.
 */
const SYNC_CONCURRENCY = 16;

async function syncEach(paths: readonly string[]): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < paths.length) await fsyncPath(paths[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(SYNC_CONCURRENCY, paths.length) }, worker));
}

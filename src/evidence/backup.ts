import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import { runCommand, describeExit } from '../exec/run-command.js';
import { type ExecRecord } from '../model/exec-record.js';
import { hashFile } from '../manifest/hash-file.js';
import { VERSION } from '../version.js';
import type { Database } from './database.js';
import { fsyncPath } from './durability.js';
import { reasonOf } from './errors.js';
import { bundleHeaderSchema, exportEvidence } from './export.js';
import type { EvidenceDialect } from './open-store.js';

// A backup of the evidence store: a folder named by its UTC time holding the export
// bundle (with items), optionally a pg_dump of the database, and a manifest written
// last with every file's SHA-256 and the chain head. The folder is written under a
// hidden temporary name, its files and itself fsynced, and renamed into place (then
// its parent fsynced), so a half-written backup, or one a power loss left half on
// disk, is never a candidate for the `evidence-backup` source kind, whose glob skips
// hidden names.

/** The `format` of every backup manifest. */
export const BACKUP_FORMAT = 'restore-drill-evidence-backup';
/** Bumped when a reader of the previous version could misread a new backup. */
export const BACKUP_VERSION = 1;
/** The manifest's file name inside a backup folder. */
export const BACKUP_MANIFEST = 'manifest.json';
/** The export bundle's file name inside a backup folder. */
export const BACKUP_BUNDLE = 'evidence.jsonl';
/** The pg_dump (custom format) file name, when one was asked for. */
export const BACKUP_PG_DUMP = 'evidence.pgdump';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, { message: 'expected 64 lower-case hex digits' });

/** What a backup's manifest says: its files with their hashes, and the chain it holds. */
export const backupManifestSchema = z.object({
  format: z.literal(BACKUP_FORMAT),
  version: z.literal(BACKUP_VERSION),
  createdAt: z.string(),
  generator: z.string(),
  /** The engine the evidence was read from. */
  store: z.enum(['pglite', 'postgres']),
  /** Every file of the backup but the manifest itself. */
  files: z.array(
    z.object({
      name: z.string().regex(/^[A-Za-z0-9._-]+$/, { message: 'expected a plain file name' }),
      bytes: z.number().int().nonnegative(),
      sha256,
    }),
  ),
  /** The chain as the bundle holds it, read in the same snapshot as the bundle. */
  chain: z.object({
    records: z.number().int().nonnegative(),
    runs: z.number().int().nonnegative(),
    reviews: z.number().int().nonnegative(),
    selftests: z.number().int().nonnegative(),
    items: z.number().int().nonnegative(),
    firstSeq: z.number().int().nullable(),
    lastSeq: z.number().int().nullable(),
    anchor: bundleHeaderSchema.shape.anchor,
    head: bundleHeaderSchema.shape.head,
  }),
});
export type BackupManifest = z.infer<typeof backupManifestSchema>;

/** A backup that could not be written or read: one line naming the path. */
export class EvidenceBackupError extends Error {
  override readonly name = 'EvidenceBackupError';
  constructor(
    message: string,
    options?: { cause?: unknown },
    /** The backup's folder was there already (another run of the same second or slot made it). */
    readonly exists = false,
  ) {
    super(message, options);
  }
}

export interface BackupOptions {
  /** The folder the backup's own folder is made in (created when missing). */
  out: string;
  dialect: EvidenceDialect;
  /** Also write a pg_dump of the evidence database, in the bundle's snapshot (PostgreSQL only). */
  pgDump?: { url: string; signal?: AbortSignal | undefined } | undefined;
  /** The backup's clock (tests); its UTC time names the folder. */
  now?: Date | undefined;
}

/** What a backup wrote. */
export interface BackupOutcome {
  /** The backup's folder. */
  path: string;
  manifest: BackupManifest;
  /** pg_dump's evidence, when it ran. */
  commands: ExecRecord[];
}

/** `2026-12-06T171500Z`: the folder name of a backup taken at `now` (UTC, sorts by time). */
export function backupFolderName(now: Date): string {
  return `${now.toISOString().slice(0, 19).replace(/:/g, '')}Z`;
}

/**
 * Writes a new backup folder inside `options.out`: the bundle, the pg_dump when asked
 * for, then the manifest, under a hidden temporary name renamed into place at the end.
 * An existing folder of the same name is never overwritten.
 */
export async function backupEvidence(
  db: Kysely<Database>,
  options: BackupOptions,
): Promise<BackupOutcome> {
  const now = options.now ?? new Date();
  const out = path.resolve(options.out);
  const name = backupFolderName(now);
  const final = path.join(out, name);
  try {
    const created = await mkdir(out, { recursive: true });
    // A folder made here survives a power loss only once the folder holding its name is synced.
    if (created !== undefined) {
      for (let dir = out; ; dir = path.dirname(dir)) {
        await fsyncPath(path.dirname(dir));
        if (dir === created) break;
      }
    }
  } catch (error) {
    throw new EvidenceBackupError(`cannot create backup folder ${out}: ${reasonOf(error)}`, {
      cause: error,
    });
  }
  await refuseExisting(final);
  const temporary = path.join(out, `.${name}.partial-${randomBytes(4).toString('hex')}`);
  try {
    await mkdir(temporary);
  } catch (error) {
    throw new EvidenceBackupError(`cannot write in backup folder ${out}: ${reasonOf(error)}`, {
      cause: error,
    });
  }
  try {
    const commands: ExecRecord[] = [];
    const bundleFile = path.join(temporary, BACKUP_BUNDLE);
    const stream = createWriteStream(bundleFile, { flags: 'wx' });
    await once(stream, 'open');
    const summary = await exportEvidence(db, stream, {
      items: true,
      now,
      ...(options.pgDump
        ? {
            inSnapshot: async (trx) => {
              commands.push(
                await pgDumpInSnapshot(trx, options.pgDump as { url: string }, temporary),
              );
            },
          }
        : {}),
    });
    stream.end();
    await finished(stream);
    const fileNames = [BACKUP_BUNDLE, ...(options.pgDump ? [BACKUP_PG_DUMP] : [])];
    const files: BackupManifest['files'] = [];
    for (const file of fileNames) {
      const digest = await hashFile(path.join(temporary, file));
      files.push({ name: file, bytes: digest.size, sha256: digest.digests.sha256 as string });
    }
    // Each file reaches the disk before the manifest vouches for it.
    for (const file of fileNames) await fsyncPath(path.join(temporary, file));
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      version: BACKUP_VERSION,
      createdAt: now.toISOString(),
      generator: `restore-drill ${VERSION}`,
      store: options.dialect,
      files,
      chain: {
        records: summary.records,
        runs: summary.runs,
        reviews: summary.reviews,
        selftests: summary.selftests,
        items: summary.items,
        firstSeq: summary.firstSeq,
        lastSeq: summary.lastSeq,
        anchor: summary.anchor,
        head: summary.head,
      },
    };
    await writeFile(
      path.join(temporary, BACKUP_MANIFEST),
      `${JSON.stringify(manifest, null, 2)}\n`,
      {
        flag: 'wx',
      },
    );
    await fsyncPath(path.join(temporary, BACKUP_MANIFEST));
    await fsyncPath(temporary);
    await refuseExisting(final);
    await rename(temporary, final);
    // The rename is only durable once the folder holding the new name is synced.
    await fsyncPath(out);
    return { path: final, manifest, commands };
  } catch (error) {
    await rm(temporary, { recursive: true, force: true });
    if (error instanceof EvidenceBackupError) throw error;
    throw new EvidenceBackupError(`cannot write backup ${final}: ${reasonOf(error)}`, {
      cause: error,
    });
  }
}

async function refuseExisting(folder: string): Promise<void> {
  const existing = await stat(folder).catch(() => null);
  if (existing !== null)
    throw new EvidenceBackupError(
      `backup ${folder} already exists; a backup is never overwritten (wait a second and run again)`,
      undefined,
      true,
    );
}

/** pg_dump may take this long before it is stopped. */
const PG_DUMP_TIMEOUT_MS = 30 * 60_000;

/**
 * Runs pg_dump (custom format, no owners) in the export's own snapshot, so the dump and
 * the bundle hold the same records; the password goes in PGPASSWORD, never on the command line.
 */
async function pgDumpInSnapshot(
  trx: Kysely<Database>,
  target: { url: string; signal?: AbortSignal | undefined },
  folder: string,
): Promise<ExecRecord> {
  const { rows } = await sql<{ snapshot: string }>`select pg_export_snapshot() as snapshot`.execute(
    trx,
  );
  const snapshot = rows[0]?.snapshot as string;
  const url = new URL(target.url);
  const password = decodeURIComponent(url.password);
  url.password = '';
  const file = path.join(folder, BACKUP_PG_DUMP);
  const result = await runCommand(
    'pg_dump',
    [
      '--format=custom',
      '--no-owner',
      '--no-privileges',
      `--snapshot=${snapshot}`,
      `--file=${file}`,
      `--dbname=${url.toString()}`,
    ],
    {
      env: password === '' ? {} : { PGPASSWORD: password },
      timeoutMs: PG_DUMP_TIMEOUT_MS,
      signal: target.signal,
    },
  );
  if (result.exitCode !== 0)
    throw new EvidenceBackupError(
      `pg_dump of the evidence database failed: ${describeExit(result)}`,
    );
  return result;
}

/**
 * Reads and validates a backup's manifest; one line naming the file when it is missing or
 * wrong (as `shownAs`: a copy in scratch is named as the backup's own file).
 */
export async function readBackupManifest(
  folder: string,
  shownAs = path.join(folder, BACKUP_MANIFEST),
): Promise<BackupManifest> {
  const file = path.join(folder, BACKUP_MANIFEST);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new EvidenceBackupError(`cannot read ${shownAs}: ${reasonOf(error)}`, { cause: error });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new EvidenceBackupError(`${shownAs}: not valid JSON: ${reasonOf(error)}`, {
      cause: error,
    });
  }
  const parsed = backupManifestSchema.safeParse(value);
  if (!parsed.success)
    throw new EvidenceBackupError(
      `${shownAs}: not a restore-drill evidence backup manifest: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ')}`,
    );
  return parsed.data;
}

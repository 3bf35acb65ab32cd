import { copyFile, lstat, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { hashFile } from '../manifest/hash-file.js';
import { SourceError, type BackupSet } from '../model/restore.js';
import { BackupDamagedError, type RestoreOptions, type RestoreOutcome } from './restore-source.js';
import type { SourceContext } from './source-kind.js';
import { TarSource } from './tar-source.js';

/** The archives of `pg_basebackup -Ft`, plain or compressed (the compression is read from the bytes). */
const ARCHIVE = /^(base|pg_wal|\d+)\.tar(\.(gz|lz4|zst|xz|bz2))?$/;
const MANIFEST = 'backup_manifest';

/** Where one archive of the backup goes in the data folder a restore makes. */
interface BasebackupArchive {
  file: string;
  /** `''` for base.tar, `pg_wal` for the WAL, `pg_tblspc/<oid>` for a tablespace. */
  into: string;
}

/**
 * A folder as `pg_basebackup -Ft` writes it: `backup_manifest`, `base.tar` and only
 * `pg_wal.tar` and tablespaces' `<oid>.tar` beside them. Null for any other folder.
 */
export async function basebackupTarLayout(dir: string): Promise<BasebackupArchive[] | null> {
  const names = await readdir(dir).catch(() => null);
  if (names === null || !names.includes(MANIFEST)) return null;
  const archives: BasebackupArchive[] = [];
  for (const name of names) {
    if (name === MANIFEST) continue;
    const match = ARCHIVE.exec(name);
    if (!match) return null;
    const kind = match[1] as string;
    archives.push({
      file: path.join(dir, name),
      into: kind === 'base' ? '' : kind === 'pg_wal' ? 'pg_wal' : `pg_tblspc/${kind}`,
    });
  }
  if (!archives.some((archive) => archive.into === '')) return null;
  return archives.sort((a, b) => (a.into < b.into ? -1 : a.into > b.into ? 1 : 0));
}

/** Throws when a folder on the way from scratch to `into` is a symlink: writing there would leave scratch. */
async function refuseLinkOnTheWay(scratchDir: string, into: string): Promise<void> {
  let rel = '';
  for (const part of into.split('/').filter((name) => name !== '')) {
    rel = rel === '' ? part : `${rel}/${part}`;
    const info = await lstat(path.join(scratchDir, rel)).catch(() => null);
    if (info?.isSymbolicLink())
      throw new SourceError(
        `base.tar restored ${rel} as a symlink, where another archive of the backup goes: not written through`,
      );
  }
}

/**
 * Restores a tar-format base backup as PostgreSQL's docs say to: base.tar into the data
 * folder, pg_wal.tar into its pg_wal/, each tablespace's `<oid>.tar` into pg_tblspc/<oid>/,
 * and backup_manifest beside them, so the manifest check reads the files it lists.
 */
export async function restoreBasebackupTars(
  archives: readonly BasebackupArchive[],
  set: BackupSet,
  scratchDir: string,
  options: RestoreOptions,
  context: SourceContext,
): Promise<RestoreOutcome> {
  const outcome: Required<Pick<RestoreOutcome, 'files' | 'links' | 'refused' | 'skipped'>> = {
    files: [],
    links: [],
    refused: [],
    skipped: [],
  };
  const add = (into: string, part: RestoreOutcome): void => {
    const under = (rel: string): string => (into === '' ? rel : `${into}/${rel}`);
    outcome.files.push(...part.files.map((file) => ({ ...file, path: under(file.path) })));
    outcome.links.push(...(part.links ?? []).map((link) => ({ ...link, path: under(link.path) })));
    outcome.refused.push(...part.refused.map((entry) => ({ ...entry, entry: under(entry.entry) })));
    outcome.skipped.push(
      ...(part.skipped ?? []).map((entry) => ({ ...entry, entry: under(entry.entry) })),
    );
  };
  const tar = new TarSource({ kind: 'tar', path: set.path, select: 'latest' }, context);
  for (const archive of archives) {
    const target = path.join(scratchDir, archive.into);
    // base.tar comes first: a link it restored where another archive goes is never written through.
    await refuseLinkOnTheWay(scratchDir, archive.into);
    await mkdir(target, { recursive: true });
    const member = { id: archive.file, path: archive.file, size: null, mtime: null, hash: null };
    try {
      add(archive.into, await tar.restore(member, target, { ...options, items: null }));
    } catch (error) {
      if (!(error instanceof BackupDamagedError)) throw error;
      add(archive.into, error.partial);
      throw new BackupDamagedError(error.message, error.damage, { ...outcome }, { cause: error });
    }
  }
  const manifest = path.join(scratchDir, MANIFEST);
  await copyFile(path.join(set.path, MANIFEST), manifest);
  const digest = await hashFile(manifest, ['sha256'], { signal: options.signal });
  outcome.files.push({
    path: MANIFEST,
    size: digest.size,
    sha256: digest.digests.sha256 as string,
  });
  const byPath = <T extends { path: string }>(a: T, b: T): number =>
    a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
  outcome.files.sort(byPath);
  outcome.links.sort(byPath);
  options.log.info(
    { set: set.path, archives: archives.map((archive) => path.basename(archive.file)) },
    'pg_basebackup tar format: archives extracted into the data folder layout',
  );
  return outcome;
}

import { stat } from 'node:fs/promises';
import path from 'node:path';
import { findSets } from '../glob-sets.js';
import type { BackupSet } from '../../model/restore.js';
import { holdsTableData, type DumpFormat } from './dump-format.js';

/**
 * Where a postgres source's dumps live. Local files and folders today; an object store
 * (S3) slots in here: it lists objects as sets and fetches the chosen one into scratch,
 * hashing as it writes, before pg_restore or psql reads it.
 */
export interface DumpStore {
  listSets(options: { signal?: AbortSignal | undefined }): Promise<BackupSet[]>;
  /** A local path the PostgreSQL tools can read for `set`; a remote store fetches it into `scratchDir` first. */
  localPath(
    set: BackupSet,
    scratchDir: string,
    options: { signal?: AbortSignal | undefined },
  ): Promise<string>;
}

/** Dumps on a local or mounted file system, chosen by glob: files, and with `auto`/`directory` folders holding toc.dat or table data files. */
export class LocalDumpStore implements DumpStore {
  constructor(
    private readonly pattern: string,
    private readonly configDir: string,
    private readonly format: DumpFormat | 'auto',
  ) {}

  async listSets(options: { signal?: AbortSignal | undefined }): Promise<BackupSet[]> {
    const sets: BackupSet[] = [];
    if (this.format !== 'directory')
      sets.push(...(await findSets(this.pattern, this.configDir, { kind: 'file' }, options)));
    if (this.format === 'directory' || this.format === 'auto') {
      const folders = await findSets(this.pattern, this.configDir, { kind: 'directory' }, options);
      for (const folder of folders)
        // A folder of table data without its toc.dat is a damaged dump, not something else:
        // left out, an older dump would be drilled in place of the newest.
        if (
          this.format === 'directory' ||
          (await hasToc(folder.path)) ||
          (await holdsTableData(folder.path))
        )
          sets.push(folder);
    }
    return sets.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async localPath(set: BackupSet): Promise<string> {
    return set.path;
  }
}

async function hasToc(folder: string): Promise<boolean> {
  try {
    return (await stat(path.join(folder, 'toc.dat'))).isFile();
  } catch {
    return false;
  }
}

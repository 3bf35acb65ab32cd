import type { Dirent } from 'node:fs';
import { opendir, readlink } from 'node:fs/promises';
import { fileNameOf, fsPath } from '../../model/file-name.js';
import { hashFile } from '../../manifest/hash-file.js';
import { describeFsError } from '../../scratch/hashing-writer.js';
import type {
  RefusedEntry,
  RestoredFile,
  RestoredLink,
  SkippedEntry,
} from '../../model/restore.js';

/** Files hashed at once: enough to keep a disk busy, few enough to keep memory flat (1 MiB reads each). */
const HASH_CONCURRENCY = 4;

/** What a tool left in scratch: regular files with size and SHA-256, links with their targets, what was refused and skipped. */
export interface ScratchScan {
  files: RestoredFile[];
  links: RestoredLink[];
  refused: RefusedEntry[];
  skipped: SkippedEntry[];
}

/**
 * Walks scratch after an external tool restored into it (never following a symlink)
 * and hashes every regular file, streaming in 1 MiB reads. Symlinks are recorded with
 * their targets, wherever they point, and never read through; sockets hold no data and
 * are skipped, FIFOs and devices are refused. Paths are `/` separated (names read as bytes, in the
 * escaped form of `model/file-name.ts`),
 * relative to scratch, in name order. `skip` names top-level entries that are not
 * the restore's (a source's own work files).
 */
export async function scanScratch(
  root: string,
  options: { signal?: AbortSignal | undefined; skip?: ReadonlySet<string> } = {},
): Promise<ScratchScan> {
  const files: RestoredFile[] = [];
  const links: RestoredLink[] = [];
  const refused: RefusedEntry[] = [];
  const skipped: SkippedEntry[] = [];
  const pending: Promise<void>[] = [];
  const hash = async (rel: string): Promise<void> => {
    try {
      const digest = await hashFile(fsPath(root, rel), ['sha256'], {
        signal: options.signal,
      });
      files.push({ path: rel, size: digest.size, sha256: digest.digests.sha256 as string });
    } catch (error) {
      options.signal?.throwIfAborted();
      refused.push({
        entry: rel,
        reason: `cannot read the restored file: ${describeFsError(error)}`,
      });
    }
  };

  const walk = async (prefix: string): Promise<void> => {
    const entries: { name: string; entry: Dirent<Buffer> }[] = [];
    // Node's types omit it, but opendir reads names as bytes with `encoding: 'buffer'`.
    const dir = await opendir(fsPath(root, prefix), { encoding: 'buffer' as BufferEncoding });
    for await (const entry of dir as AsyncIterable<Dirent<Buffer>>)
      entries.push({ name: fileNameOf(entry.name), entry });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const { name, entry } of entries) {
      options.signal?.throwIfAborted();
      const rel = prefix ? `${prefix}/${name}` : name;
      if (prefix === '' && options.skip?.has(name)) continue;
      const abs = fsPath(root, rel);
      if (entry.isDirectory()) await walk(rel);
      else if (entry.isFile()) {
        pending.push(hash(rel));
        if (pending.length >= HASH_CONCURRENCY) await Promise.all(pending.splice(0));
      } else if (entry.isSymbolicLink()) {
        links.push({ path: rel, target: fileNameOf(await readlink(abs, { encoding: 'buffer' })) });
      } else if (entry.isSocket()) {
        skipped.push({ entry: rel, kind: 'socket' });
      } else {
        refused.push({
          entry: rel,
          reason: `special file: ${entry.isFIFO() ? 'FIFO' : 'device'}`,
        });
      }
    }
  };
  try {
    await walk('');
  } finally {
    await Promise.allSettled(pending);
  }
  await Promise.all(pending);
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files, links, refused, skipped };
}

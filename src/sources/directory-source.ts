import type { Dirent } from 'node:fs';
import { lstat, opendir, readlink, realpath } from 'node:fs/promises';
import os from 'node:os';
import { fileNameOf, fsPath } from '../model/file-name.js';
import { drillUser, isPermissionDenied } from '../model/permission.js';
import { CopyWorkers, WORKER_MAX_FILE_BYTES } from '../scratch/copy-workers.js';
import { describeFsError } from '../scratch/hashing-writer.js';
import { LargeFileCopier } from '../scratch/large-file-copy.js';
import { TaskPool } from '../scratch/task-pool.js';
import { ScratchWriter } from '../scratch/scratch-writer.js';
import { basebackupTarLayout, restoreBasebackupTars } from './basebackup-tar.js';
import { findSets } from './glob-sets.js';
import { type RestoreOptions, type RestoreOutcome, type RestoreSource } from './restore-source.js';
import { SourceError, type BackupSet, type SetItem } from '../model/restore.js';
import { normaliseEntryPath, parentOf } from '../model/safe-path.js';
import { defineSourceKind, type SourceContext } from './source-kind.js';

import {
  directorySourceConfigKind,
  type DirectorySourceConfig,
} from './directory-source-config.js';

/** Files per message to a copy worker: enough to make messaging cheap per file. */
const BATCH_FILES = 64;
/** Copy threads: two keep small-file copies well ahead of one; more rarely help a single disk. */
function copyThreads(): number {
  return Math.max(2, Math.min(4, os.availableParallelism()));
}

/**
 * Large files copied at once, each by a copier and a hasher thread over a 4 MiB ring: one
 * copy keeps two cores busy; more add threads and memory (about 25 MB a copy), not speed.
 */
function largeFileConcurrency(): number {
  return Math.max(1, Math.min(2, Math.floor(os.availableParallelism() / 2)));
}
/** Sizes looked up at once while listing items. */
const STAT_CONCURRENCY = 16;

/** One entry met while walking a set. */
interface WalkEntry {
  /** Relative path in the escaped form of `model/file-name.ts`. */
  rel: string;
  /** The entry on disk: its exact bytes when its name is not UTF-8. */
  abs: string | Buffer;
  dirent: Dirent<Buffer>;
}

/**
 * Restores from folders: `listSets` globs the folders, `restore` walks the chosen one
 * (never following a symlink) and copies each regular file into scratch while hashing it.
 * Symlinks are restored as links whatever their target (never followed); names of one
 * file (hard links) are restored as hard links; sockets hold no data and are skipped (GNU
 * tar ignores them too), FIFOs and devices are refused, as are files that cannot be read,
 * with the reason. A file or folder the drill may
 * not read (permission denied) is an error (`source.auth`), not a refusal: it says nothing of
 * the backup, only of the user the drill runs as.
 */
export class DirectorySource implements RestoreSource {
  readonly kind = 'directory';
  readonly #config: DirectorySourceConfig;
  readonly #context: SourceContext;

  constructor(config: DirectorySourceConfig, context: SourceContext) {
    this.#config = config;
    this.#context = context;
  }

  listSets(options: { signal?: AbortSignal | undefined }): Promise<BackupSet[]> {
    return findSets(this.#config.path, this.#context.configDir, { kind: 'directory' }, options);
  }

  async listItems(
    set: BackupSet,
    options: { signal?: AbortSignal | undefined },
  ): Promise<SetItem[]> {
    const items: SetItem[] = [];
    let batch: WalkEntry[] = [];
    const flush = async (): Promise<void> => {
      const sizes = await Promise.all(
        batch.map((entry) =>
          lstat(entry.abs).then(
            (info) => (info.isFile() ? info.size : null),
            () => null,
          ),
        ),
      );
      batch.forEach((entry, index) => {
        const size = sizes[index];
        if (size !== null && size !== undefined) items.push({ path: entry.rel, size });
      });
      batch = [];
    };
    const onUnreadable = (rel: string, error: unknown): void => {
      // Sampling from a listing with holes would misstate what was sampled from.
      if (isPermissionDenied(error)) throw accessDenied(set.path, rel, error);
      this.#context.log.warn(
        { set: set.path, folder: rel, reason: describeFsError(error) },
        'folder of the backup set cannot be read; its files are not listed',
      );
    };
    for await (const entry of walk(set.path, options.signal, onUnreadable)) {
      if (!entry.dirent.isFile()) continue;
      batch.push(entry);
      if (batch.length >= STAT_CONCURRENCY) await flush();
    }
    await flush();
    return items.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async restore(
    set: BackupSet,
    scratchDir: string,
    options: RestoreOptions,
  ): Promise<RestoreOutcome> {
    const signal = options.signal;
    signal?.throwIfAborted();
    if (options.items === null) {
      const archives = await basebackupTarLayout(set.path);
      if (archives !== null)
        return restoreBasebackupTars(archives, set, scratchDir, options, this.#context);
    }
    const writer = new ScratchWriter(scratchDir);
    const copier = new SetCopier(writer, signal);
    try {
      if (options.items === null) await this.#restoreAll(set, writer, copier, signal);
      else await this.#restoreItems(set, options.items, writer, copier, signal);
      await copier.finish();
    } catch (error) {
      await copier.abandon();
      if (signal?.aborted) throw signal.reason;
      throw error instanceof DeniedEntry ? accessDenied(set.path, error.rel, error.cause) : error;
    }
    signal?.throwIfAborted();
    return await writer.finish();
  }

  async #restoreAll(
    set: BackupSet,
    writer: ScratchWriter,
    copier: SetCopier,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const onUnreadable = (rel: string, error: unknown): void => {
      if (isPermissionDenied(error)) throw new DeniedEntry(rel, error);
      writer.refuse(rel, `cannot read folder: ${describeFsError(error)}`);
    };
    for await (const { rel, abs, dirent } of walk(set.path, signal, onUnreadable)) {
      if (dirent.isDirectory()) {
        await writer.directory(rel);
      } else if (dirent.isFile()) {
        await copier.add(abs, rel);
      } else if (dirent.isSymbolicLink()) {
        try {
          writer.symlink(rel, fileNameOf(await readlink(abs, { encoding: 'buffer' })));
        } catch (error) {
          if (isPermissionDenied(error)) throw new DeniedEntry(rel, error);
          writer.refuse(rel, `cannot read symlink: ${describeFsError(error)}`);
        }
      } else {
        // A socket holds no data (GNU tar ignores sockets too); FIFOs and devices are refused.
        if (dirent.isSocket()) writer.skip(rel, 'socket');
        else writer.refuse(rel, `special file: ${specialKind(dirent)}`);
      }
    }
  }

  /** Copies only the named items, without walking the set: each is checked not to pass through a symlink. */
  async #restoreItems(
    set: BackupSet,
    items: ReadonlySet<string>,
    writer: ScratchWriter,
    copier: SetCopier,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const root = await openRoot(set.path);
    for (const item of items) {
      signal?.throwIfAborted();
      const checked = normaliseEntryPath(item);
      if (!checked.ok || checked.path === '') {
        writer.refuse(item, checked.ok ? 'not a file of the set' : checked.reason);
        continue;
      }
      const rel = checked.path;
      const parent = parentOf(rel);
      const abs = fsPath(set.path, rel);
      try {
        const realParent = await realpath(fsPath(set.path, parent), { encoding: 'buffer' });
        if (!realParent.equals(asBytes(fsPath(root, parent)))) {
          writer.refuse(item, 'path passes through a symlink of the set');
          continue;
        }
        const info = await lstat(abs);
        if (info.isSymbolicLink()) {
          writer.refuse(item, 'is a symlink, not a file');
          continue;
        }
        if (!info.isFile()) {
          writer.refuse(item, info.isDirectory() ? 'is a folder, not a file' : 'special file');
          continue;
        }
      } catch (error) {
        if (isPermissionDenied(error)) throw new DeniedEntry(rel, error);
        const code = (error as NodeJS.ErrnoException).code;
        writer.refuse(
          item,
          code === 'ENOENT' || code === 'ENOTDIR'
            ? 'not found in the set'
            : `cannot read: ${describeFsError(error)}`,
        );
        continue;
      }
      await copier.add(abs, rel);
    }
  }
}

/**
 * Copies a set's files into scratch: small files in batches on worker threads
 * (`CopyWorkers`), files above `WORKER_MAX_FILE_BYTES` by `LargeFileCopier` (reads and
 * writes on one thread, the hash on another), a few at a time. Batches in flight are bounded, so memory stays
 * flat while the walk runs ahead.
 */
class SetCopier {
  readonly #writer: ScratchWriter;
  readonly #signal: AbortSignal | undefined;
  /** Started with the first batch: a restore with nothing to copy starts no threads. */
  #workers: CopyWorkers | null = null;
  readonly #batches = new TaskPool(copyThreads() * 2);
  readonly #large = new TaskPool(largeFileConcurrency());
  /** Started with the first large file. */
  #largeCopier: LargeFileCopier | null = null;
  readonly #onAbort = (): void => this.#workers?.abort();
  #batch: { source: string | Buffer; rel: string }[] = [];
  /** Names copied per source inode (`dev:ino`), for files with more than one name. */
  readonly #names = new Map<string, string[]>();

  constructor(writer: ScratchWriter, signal: AbortSignal | undefined) {
    this.#writer = writer;
    this.#signal = signal;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Queues the file at `source` for `rel`; waits when enough work is in flight. */
  async add(source: string | Buffer, rel: string): Promise<void> {
    this.#batch.push({ source, rel });
    if (this.#batch.length >= BATCH_FILES) await this.#flush();
  }

  /** Copies what is queued and waits for every copy; throws the first failure. */
  async finish(): Promise<void> {
    try {
      await this.#flush();
      await this.#batches.drain();
      await this.#large.drain();
      await this.#linkNames();
    } finally {
      await this.#close();
    }
  }

  /**
   * Names of one file in the set become hard links of one file in scratch, as `cp -a`
   * and tar make them: each was copied (copies run in parallel), then all but the first
   * name are replaced by links to it.
   */
  async #linkNames(): Promise<void> {
    for (const names of this.#names.values()) {
      const restored = names.filter((rel) => this.#writer.hasFile(rel)).sort();
      const first = restored[0];
      for (const rel of restored.slice(1)) {
        this.#signal?.throwIfAborted();
        await this.#writer.hardLink(rel, first as string);
      }
    }
  }

  #noteName(inode: string | undefined, rel: string): void {
    if (inode === undefined) return;
    const names = this.#names.get(inode);
    if (names) names.push(rel);
    else this.#names.set(inode, [rel]);
  }

  /** Stops the copies after a failure, waiting for those running. */
  async abandon(): Promise<void> {
    this.#workers?.abort();
    await this.#batches.settle();
    await this.#large.settle();
    await this.#close();
  }

  async #close(): Promise<void> {
    this.#signal?.removeEventListener('abort', this.#onAbort);
    await Promise.all([this.#workers?.close(), this.#largeCopier?.close()]);
  }

  /** Copies one large file with the hash beside the copy, a few at a time. */
  async #copyLarge(source: string | Buffer, rel: string): Promise<void> {
    this.#largeCopier ??= new LargeFileCopier();
    const copier = this.#largeCopier;
    await this.#large.run(async () => {
      try {
        await this.#writer.copyFile(source, rel, { copier, signal: this.#signal });
      } catch (error) {
        throw isPermissionDenied(error) ? new DeniedEntry(rel, error) : error;
      }
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#batch;
    if (batch.length === 0) return;
    this.#batch = [];
    await this.#batches.run(() => this.#copyBatch(batch));
  }

  async #copyBatch(batch: { source: string | Buffer; rel: string }[]): Promise<void> {
    // A short batch (the last one, or a set of a few files) is looked at here first: its
    // large files go straight to the large-file copier, so a set of a few large files
    // starts no copy worker.
    const large = batch.length < BATCH_FILES ? await largeFiles(batch) : [];
    const jobs: { source: string | Buffer; rel: string; target: string | Buffer }[] = [];
    for (const [index, file] of batch.entries()) {
      const found = large[index];
      if (found) {
        this.#noteName(found.inode, file.rel);
        await this.#copyLarge(file.source, file.rel);
        continue;
      }
      const target = await this.#writer.prepareTarget(file.rel);
      if (target !== null) jobs.push({ ...file, target });
    }
    if (jobs.length === 0) return;
    this.#workers ??= new CopyWorkers({ threads: copyThreads() });
    if (this.#signal?.aborted) this.#workers.abort();
    const results = await this.#workers.run(
      jobs.map(({ source, target }) => ({ kind: 'copy', source, target })),
    );
    for (const [index, result] of results.entries()) {
      const { source, rel } = jobs[index] as { source: string | Buffer; rel: string };
      switch (result.kind) {
        case 'copied':
          this.#writer.recordFile(rel, result);
          this.#noteName(result.inode, rel);
          break;
        case 'large':
          this.#noteName(result.inode, rel);
          await this.#copyLarge(source, rel);
          break;
        case 'read-error':
          await this.#writer.discardFile(rel);
          if (isPermissionDenied(result)) throw new DeniedEntry(rel, result);
          this.#writer.refuse(rel, `cannot read: ${describeFsError(result)}`);
          break;
        case 'write-error':
          this.#writer.writeFailed(rel, 'cannot write file', result);
          break;
        case 'aborted':
          this.#signal?.throwIfAborted();
          throw new Error('copy aborted');
      }
    }
  }
}

/**
 * Which of `files` are regular files above `WORKER_MAX_FILE_BYTES` (with their `dev:ino`
 * when they have more than one name); anything else, a file that cannot be looked at
 * included, is left to the copy workers, which report it.
 */
async function largeFiles(
  files: readonly { source: string | Buffer }[],
): Promise<({ inode: string | undefined } | null)[]> {
  return await Promise.all(
    files.map(({ source }) =>
      lstat(source).then(
        (info) =>
          info.isFile() && info.size > WORKER_MAX_FILE_BYTES
            ? { inode: info.nlink > 1 ? `${info.dev}:${info.ino}` : undefined }
            : null,
        () => null,
      ),
    ),
  );
}

/** A file or folder of the set the drill may not read, met while copying (made a `SourceError` by `restore`). */
class DeniedEntry extends Error {
  constructor(
    readonly rel: string,
    cause: unknown,
  ) {
    super(`cannot read ${rel}: permission denied`, { cause });
  }
}

/**
 * The drill may not read part of the set: it cannot judge the backup (`error`, not `failed`):
 * the files may be whole, only unreadable to the user the drill runs as.
 */
function accessDenied(root: string, rel: string, cause: unknown): SourceError {
  const what = rel === '' ? `backup set ${root}` : `${rel} in backup set ${root}`;
  return new SourceError(
    `cannot read ${what}: permission denied to ${drillUser()}; run the drill as a user who can read the whole set`,
    false,
    { cause, code: 'source.auth' },
  );
}

/** The set folder itself cannot be read: gone (`source.unreachable`), or not ours to read (`source.auth`). */
function unreadableRoot(root: string, error: unknown): SourceError {
  if (isPermissionDenied(error)) return accessDenied(root, '', error);
  return new SourceError(`cannot read backup set ${root}: ${describeFsError(error)}`, false, {
    cause: error,
    code: 'source.unreachable',
  });
}

/** The set root, resolved; a set that vanished or cannot be read is a `SourceError`. */
async function openRoot(root: string): Promise<string> {
  try {
    const dir = await opendir(root);
    await dir.close();
    return await realpath(root);
  } catch (error) {
    throw unreadableRoot(root, error);
  }
}

/**
 * Walks a set depth-first with `opendir`, yielding every entry with its path relative to
 * the root (`/` separated, names read as bytes and escaped: any name restores). Symlinks are yielded, never followed. A folder below the root
 * that cannot be read goes to `onUnreadable`; the root itself failing is a `SourceError`.
 */
async function* walk(
  root: string,
  signal: AbortSignal | undefined,
  onUnreadable: (rel: string, error: unknown) => void,
): AsyncGenerator<WalkEntry> {
  const stack: string[] = [''];
  while (stack.length > 0) {
    const relDir = stack.pop() as string;
    let dir;
    try {
      // Node's types omit it, but opendir reads names as bytes with `encoding: 'buffer'`.
      dir = await opendir(fsPath(root, relDir), {
        bufferSize: 256,
        encoding: 'buffer' as BufferEncoding,
      });
    } catch (error) {
      if (relDir === '') throw unreadableRoot(root, error);
      onUnreadable(relDir, error);
      continue;
    }
    try {
      for await (const dirent of dir as AsyncIterable<Dirent<Buffer>>) {
        signal?.throwIfAborted();
        const name = fileNameOf(dirent.name);
        const rel = relDir === '' ? name : `${relDir}/${name}`;
        yield { rel, abs: fsPath(root, rel), dirent };
        if (dirent.isDirectory()) stack.push(rel);
      }
    } catch (error) {
      if (signal?.aborted || error instanceof SourceError) throw error;
      if (relDir === '') throw unreadableRoot(root, error);
      onUnreadable(relDir, error);
    }
  }
}

/** A path as bytes, to compare paths whatever their encoding. */
function asBytes(file: string | Buffer): Buffer {
  return typeof file === 'string' ? Buffer.from(file, 'utf8') : file;
}

function specialKind(dirent: Dirent<Buffer>): string {
  if (dirent.isFIFO()) return 'FIFO';
  if (dirent.isSocket()) return 'socket';
  if (dirent.isCharacterDevice()) return 'character device';
  if (dirent.isBlockDevice()) return 'block device';
  return 'unknown type';
}

export const directorySourceKind = defineSourceKind({
  ...directorySourceConfigKind,
  create(config, context) {
    return new DirectorySource(config, context);
  },
});

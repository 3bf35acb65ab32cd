import { link, lstat, mkdir, symlink, unlink } from 'node:fs/promises';
import { decodeFileName, fsPath } from '../model/file-name.js';
import {
  SourceError,
  type RefusedEntry,
  type RestoredFile,
  type RestoredLink,
  type SkippedEntry,
} from '../model/restore.js';
import { isPermissionDenied } from '../model/permission.js';
import { normaliseEntryPath, parentOf, symlinkAncestor } from '../model/safe-path.js';
import {
  describeFsError,
  HashingFileWriter,
  SourceReadError,
  type WrittenDigest,
} from './hashing-writer.js';
import type { LargeFileCopier } from './large-file-copy.js';

/** Errors that belong to one entry (a name clash, a name too long): the entry is refused, the restore goes on. */
const ENTRY_ERRORS = new Set(['EEXIST', 'ENOTDIR', 'EISDIR', 'ELOOP', 'ENAMETOOLONG', 'EINVAL']);

/**
 * Lays out one restore in scratch, whatever the source: admits or refuses each entry
 * by name (names and link targets in the escaped form of `model/file-name.ts`, written
 * to disk as the bytes they stand for), creates folders, writes files while hashing them, and keeps the evidence
 * (restored files, refused entries).
 *
 * Symlinks are only recorded while entries are written and are created at `finish()`,
 * once every entry is written: until then no symlink exists in scratch, so no write can
 * be redirected by one. Entries whose path passes through a recorded symlink are
 * refused (GNU tar does the same with its delayed links), so a link may point anywhere.
 */
export class ScratchWriter {
  readonly #root: string;
  readonly #refused: RefusedEntry[] = [];
  readonly #skipped: SkippedEntry[] = [];
  readonly #files = new Map<string, RestoredFile>();
  readonly #dirs = new Set<string>(['']);
  readonly #symlinks = new Map<string, string>();
  readonly #createSymlinks: boolean;

  /**
   * `createSymlinks: false` (a sample of items) still tracks symlinks, so entries
   * through them are refused, but creates none.
   */
  constructor(root: string, options: { createSymlinks?: boolean } = {}) {
    this.#root = root;
    this.#createSymlinks = options.createSymlinks ?? true;
  }

  /** Records that `entry` was not restored, and why. */
  refuse(entry: string, reason: string): void {
    this.#refused.push({ entry, reason });
  }

  /** Records a special file (socket, FIFO, device) that holds no data and is not restored. */
  skip(entry: string, kind: string): void {
    this.#skipped.push({ entry, kind });
  }

  /**
   * Checks an entry's name: returns the normalised relative path (`''` for the root
   * itself), or null after recording why it is refused.
   */
  admit(name: string): string | null {
    const checked = normaliseEntryPath(name);
    if (!checked.ok) {
      this.refuse(name, checked.reason);
      return null;
    }
    const through = symlinkAncestor(checked.path, (candidate) => this.#symlinks.has(candidate));
    if (through !== null) {
      this.refuse(name, `path passes through the symlink '${through}' of the set`);
      return null;
    }
    return checked.path;
  }

  /** True when `rel` was restored as a regular file (or hard link) so far. */
  hasFile(rel: string): boolean {
    return this.#files.has(rel);
  }

  /** Creates the folder `rel` (and its parents). Returns false after refusing it. */
  async directory(rel: string, entry = rel): Promise<boolean> {
    this.#symlinks.delete(rel);
    try {
      await this.#ensureDir(rel);
      return true;
    } catch (error) {
      this.writeFailed(entry, 'cannot create folder', error);
      return false;
    }
  }

  /**
   * Opens `rel` for writing (a later entry replaces an earlier one of the same name).
   * Returns null after refusing the entry when the path clashes with what is there.
   */
  async openFile(rel: string, mode: number, entry = rel): Promise<HashingFileWriter | null> {
    try {
      await this.#prepareFile(rel);
      return await HashingFileWriter.create(this.#abs(rel), mode);
    } catch (error) {
      this.writeFailed(entry, 'cannot create file', error);
      return null;
    }
  }

  /**
   * Makes way for a file at `rel` (its folder exists, no earlier file of that name is
   * in the way) and returns its absolute path, for a copy done elsewhere (a worker);
   * null after refusing the entry.
   */
  async prepareTarget(rel: string, entry = rel): Promise<string | Buffer | null> {
    try {
      await this.#prepareFile(rel);
      return this.#abs(rel);
    } catch (error) {
      this.writeFailed(entry, 'cannot create file', error);
      return null;
    }
  }

  /** Records a file written through `openFile`. */
  recordFile(rel: string, digest: WrittenDigest): void {
    this.#files.set(rel, { path: rel, size: digest.size, sha256: digest.sha256 });
  }

  /** Removes a partly written file after its entry failed (its refusal is recorded by the caller). */
  async discardFile(rel: string): Promise<void> {
    this.#files.delete(rel);
    await unlink(this.#abs(rel)).catch(() => undefined);
  }

  /**
   * Copies the file at `source` (outside scratch) to `rel` with `copier`, hashing while
   * writing. Reading problems refuse the entry with the reason, but for a refusal of access
   * (thrown as the `SourceReadError`); scratch problems throw.
   */
  async copyFile(
    source: string | Buffer,
    rel: string,
    options: { copier: LargeFileCopier; signal?: AbortSignal | undefined },
  ): Promise<void> {
    try {
      await this.#prepareFile(rel);
    } catch (error) {
      this.writeFailed(rel, 'cannot create file', error);
      return;
    }
    try {
      this.recordFile(
        rel,
        await options.copier.copy(source, this.#abs(rel), { signal: options.signal }),
      );
    } catch (error) {
      if (error instanceof SourceReadError) {
        await this.discardFile(rel);
        // A file the drill may not read says nothing about the backup: the source decides.
        if (isPermissionDenied(error)) throw error;
        this.refuse(rel, `cannot read: ${error.message}`);
        return;
      }
      if (isAbort(error, options.signal)) throw error;
      this.writeFailed(rel, 'cannot write file', error);
    }
  }

  /**
   * Hard-links `rel` to `targetRel`, a file restored earlier: both then count as
   * restored files with the same content. The caller has checked `hasFile(targetRel)`.
   */
  async hardLink(rel: string, targetRel: string, entry = rel): Promise<void> {
    const target = this.#files.get(targetRel);
    if (!target) throw new Error(`hard link target '${targetRel}' was not restored`);
    try {
      await this.#prepareFile(rel);
      await link(this.#abs(targetRel), this.#abs(rel));
      this.#files.set(rel, { ...target, path: rel });
    } catch (error) {
      this.writeFailed(entry, 'cannot create hard link', error);
    }
  }

  /** A later entry (not restored here) took the name `rel`: a symlink recorded under it is gone. */
  forget(rel: string): void {
    this.#symlinks.delete(rel);
  }

  /** Records a symlink to create at `finish()`; a later entry of the same name replaces it. */
  symlink(rel: string, target: string): void {
    this.#symlinks.delete(rel);
    this.#symlinks.set(rel, target);
  }

  /**
   * Creates every recorded symlink as a link, whatever its target (relative, absolute,
   * dangling), as GNU tar and restic do: nothing here ever follows one. Returns the
   * evidence, files and links sorted by path.
   */
  async finish(): Promise<{
    files: RestoredFile[];
    links: RestoredLink[];
    refused: RefusedEntry[];
    skipped: SkippedEntry[];
  }> {
    const links: RestoredLink[] = [];
    if (this.#createSymlinks) {
      for (const [rel, target] of this.#symlinks) {
        const through = symlinkAncestor(rel, (candidate) => this.#symlinks.has(candidate));
        if (through !== null) {
          this.refuse(rel, `path passes through the symlink '${through}' of the set`);
          continue;
        }
        if (target === '' || decodeFileName(target).includes(0)) {
          this.refuse(
            rel,
            `symlink has ${target === '' ? 'an empty target' : 'a NUL byte in its target'}`,
          );
          continue;
        }
        try {
          await this.#ensureDir(parentOf(rel));
          await this.#createSymlink(rel, target);
          links.push({ path: rel, target });
        } catch (error) {
          this.writeFailed(rel, 'cannot create symlink', error);
        }
      }
    }
    const byPath = <T extends { path: string }>(a: T, b: T): number =>
      a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
    const files = [...this.#files.values()].sort(byPath);
    return { files, links: links.sort(byPath), refused: this.#refused, skipped: this.#skipped };
  }

  async #createSymlink(rel: string, escapedTarget: string): Promise<void> {
    const target = escapedTarget.includes('\\') ? decodeFileName(escapedTarget) : escapedTarget;
    try {
      await symlink(target, this.#abs(rel));
    } catch (error) {
      // A regular file restored earlier under the same name: the later entry wins, as with tar.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !this.#files.has(rel)) throw error;
      const existing = await lstat(this.#abs(rel));
      if (!existing.isFile()) throw error;
      await this.discardFile(rel);
      await symlink(target, this.#abs(rel));
    }
  }

  async #prepareFile(rel: string): Promise<void> {
    this.#symlinks.delete(rel);
    await this.#ensureDir(parentOf(rel));
    // Replace, never write through: the old name may be hard-linked to another file.
    if (this.#files.delete(rel)) await unlink(this.#abs(rel));
  }

  async #ensureDir(rel: string): Promise<void> {
    if (this.#dirs.has(rel)) return;
    try {
      await mkdir(this.#abs(rel), { recursive: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ENOTDIR')
        throw new FolderClash(`folder '${rel}' clashes with a file restored earlier`, code);
      throw error;
    }
    for (let dir = rel; dir !== '' && !this.#dirs.has(dir); dir = parentOf(dir))
      this.#dirs.add(dir);
  }

  /** Where `rel` (an escaped name, see `model/file-name.ts`) is on disk: its exact bytes. */
  #abs(rel: string): string | Buffer {
    return fsPath(this.#root, rel);
  }

  /**
   * Handles a failure writing `entry`: a clash of names (or a name too long) refuses
   * the entry; anything else (a full disk, a read-only scratch) throws a `SourceError`.
   */
  writeFailed(entry: string, what: string, error: unknown): void {
    const code = (error as { code?: string }).code;
    if (error instanceof FolderClash) {
      this.refuse(entry, `${what}: ${error.message}`);
      return;
    }
    if (code !== undefined && ENTRY_ERRORS.has(code)) {
      this.refuse(entry, `${what}: ${describeFsError(error)}`);
      return;
    }
    throw new SourceError(`${what} ${entry} in scratch: ${describeFsError(error)}`, false, {
      cause: error,
    });
  }
}

/** A folder an entry needs is taken by a file (an earlier entry of the same name). */
class FolderClash extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

function isAbort(error: unknown, signal: AbortSignal | undefined): boolean {
  return (
    signal?.aborted === true && (error === signal.reason || (error as Error).name === 'AbortError')
  );
}

import { open } from 'node:fs/promises';
import os from 'node:os';
import type { Readable } from 'node:stream';
import { extract as tarExtract } from 'tar-stream';
import { fileNameOf } from '../model/file-name.js';
import { CopyWorkers } from '../scratch/copy-workers.js';
import { CHUNK_BYTES, describeFsError } from '../scratch/hashing-writer.js';
import { ScratchWriter } from '../scratch/scratch-writer.js';
import { TaskPool } from '../scratch/task-pool.js';
import {
  closed,
  compressedDamage,
  compressionOf,
  CompressedDataError,
  isCompressedDataError,
  openDecompressed,
} from './decompress.js';
import { findSets } from './glob-sets.js';
import {
  BackupDamagedError,
  type RestoreOptions,
  type RestoreOutcome,
  type RestoreSource,
} from './restore-source.js';
import { SourceError, type BackupSet, type SetItem } from '../model/restore.js';
import { normaliseEntryPath, symlinkAncestor } from '../model/safe-path.js';
import { defineSourceKind, type SourceContext } from './source-kind.js';

import { tarSourceConfigKind, type TarSourceConfig } from './tar-source-config.js';

/** Archive names a tar source considers; anything else the glob matches is ignored. */
export function isTarArchiveName(name: string): boolean {
  return TAR_ARCHIVE_ENDINGS.some((ending) => name.endsWith(ending));
}

const TAR_ARCHIVE_ENDINGS = [
  '.tar',
  '.tar.gz',
  '.tgz',
  '.tar.xz',
  '.txz',
  '.tar.bz2',
  '.tbz2',
  '.tbz',
  '.tar.zst',
  '.tzst',
];

const BLOCK = 512;

/** A member's header as tar-stream decodes it (its own types leave out unknown types and the offset). */
interface Headers {
  name: string;
  size: number;
  mode: number;
  type:
    | 'file'
    | 'link'
    | 'symlink'
    | 'directory'
    | 'block-device'
    | 'character-device'
    | 'fifo'
    | 'contiguous-file'
    | null;
  linkname: string | null;
  /** Offset of the member's data in the (decompressed) archive. */
  byteOffset?: number;
  /** The header's typeflag character, as `watchHeaders` reads it. */
  typeflag?: string;
  /** PAX extended header records, when the member had one (their values decoded as UTF-8). */
  pax?: Record<string, string> | null;
}

/**
 * A name from a header in the escaped form of `model/file-name.ts`. Header fields are
 * read as latin1 (one character per byte, so GNU tar's raw bytes come back exactly); a
 * name from a PAX record is taken as the record's bytes (`rawPaxNames`).
 */
function escapedName(value: string, rawPax: Buffer | undefined): string {
  return fileNameOf(rawPax ?? Buffer.from(value, 'latin1'));
}

/** The `path` and `linkpath` records of a PAX header, as the bytes the archive holds. */
interface RawPaxNames {
  path?: Buffer;
  linkpath?: Buffer;
}

/**
 * The name records of a PAX header's body (`LEN key=value\n` records) as bytes. GNU tar
 * writes a name that is not UTF-8 raw in its `path` record (with or without
 * `hdrcharset=BINARY`); tar-stream decodes records as UTF-8, which turns each such byte
 * into U+FFFD, so the bytes are read here. A valid UTF-8 name reads the same either way.
 */
function rawPaxNames(body: Buffer): RawPaxNames {
  const names: RawPaxNames = {};
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    if (space === -1) break;
    const length = Number.parseInt(body.toString('latin1', at, space), 10);
    if (!(length > 0) || at + length > body.length) break;
    const record = body.subarray(space + 1, at + length - 1);
    const equals = record.indexOf(0x3d);
    if (equals !== -1) {
      const key = record.toString('latin1', 0, equals);
      // An empty value is ignored, as tar-stream ignores it.
      if ((key === 'path' || key === 'linkpath') && equals + 1 < record.length)
        names[key] = Buffer.from(record.subarray(equals + 1));
    }
    at += length;
  }
  return names;
}

/** tar-stream's extractor internals that `keepRawPaxNames` and `watchHeaders` wrap (tar-stream 3). */
interface ExtractInternals {
  _header: { type: string; rawPax?: RawPaxNames; typeflag?: string } | null;
  _buffer: { shift(size: number): Buffer | null };
  _consumeHeader(): boolean;
  _decodeLongHeader(body: Buffer): void;
  _applyLongHeaders(): void;
}

/**
 * Watches each header block the extractor reads, in one wrapper of its `_consumeHeader`:
 * - attaches the header's typeflag character (`typeflag` on its header), which tar-stream
 *   drops for types it does not know, GNU sparse files ('S') among them;
 * - stops at the archive's end, as GNU tar does: the first all-zero block where a header is
 *   due (the end-of-archive marker, or a lone zero block). Whatever follows (padding, bytes a
 *   tape or a copy left, a second archive `cat`ed on) is not the archive's: it is dropped
 *   unread. The decompressor still runs to its end, so damaged compressed data after the
 *   marker is still found. `ended()` tells whether the end was met.
 */
function watchHeaders(extract: object): { ended: () => boolean } {
  const internals = extract as ExtractInternals & {
    _write(data: Buffer, callback: (error?: Error | null) => void): void;
    _buffer: { buffered: number };
  };
  if (
    typeof internals._consumeHeader !== 'function' ||
    typeof internals._buffer?.shift !== 'function' ||
    typeof internals._write !== 'function'
  )
    throw new Error('tar-stream changed: cannot read typeflags and the end-of-archive marker');
  let ended = false;
  const consumeHeader = internals._consumeHeader.bind(internals);
  internals._consumeHeader = () => {
    const buffer = internals._buffer;
    const shift = buffer.shift;
    const before = internals._header;
    let block: Buffer | null = null;
    buffer.shift = (size) => (block = shift.call(buffer, size));
    let result: boolean;
    try {
      result = consumeHeader();
    } finally {
      buffer.shift = shift;
    }
    const read = block as Buffer | null;
    const header = internals._header;
    // The entry is handed over asynchronously: the flag is on its header before it is read.
    if (header !== null && header !== before && read?.length === BLOCK)
      header.typeflag = String.fromCharCode(read[156] ?? 0);
    if (header === null && read?.length === BLOCK && read.every((byte) => byte === 0)) {
      ended = true;
      buffer.shift(buffer.buffered);
    }
    return result;
  };
  const write = internals._write.bind(internals);
  internals._write = (data, callback) => (ended ? callback(null) : write(data, callback));
  return { ended: () => ended };
}

/** A GNU sparse member (`tar --sparse`): an old-GNU 'S' header or PAX `GNU.sparse.*` records. */
function isGnuSparse(header: Headers): boolean {
  return (
    header.typeflag === 'S' ||
    Object.keys(header.pax ?? {}).some((key) => key.startsWith('GNU.sparse.'))
  );
}

/**
 * Makes the extractor attach each member's PAX name records as bytes (`rawPax` on its
 * header), beside the lossy text tar-stream decodes. Global records apply to every later
 * member unless its own header names it, as tar-stream merges them.
 */
function keepRawPaxNames(extract: object): void {
  const internals = extract as ExtractInternals;
  if (
    typeof internals._decodeLongHeader !== 'function' ||
    typeof internals._applyLongHeaders !== 'function'
  )
    throw new Error('tar-stream changed: cannot read PAX names as bytes');
  const decodeLongHeader = internals._decodeLongHeader.bind(internals);
  const applyLongHeaders = internals._applyLongHeaders.bind(internals);
  let global: RawPaxNames = {};
  let local: RawPaxNames | null = null;
  internals._decodeLongHeader = (body) => {
    const type = internals._header?.type;
    if (type === 'pax-global-header') global = rawPaxNames(body);
    else if (type === 'pax-header') local = { ...global, ...rawPaxNames(body) };
    decodeLongHeader(body);
  };
  internals._applyLongHeaders = () => {
    applyLongHeaders();
    const header = internals._header;
    if (header !== null && (local !== null || Object.keys(global).length > 0)) {
      header.rawPax = local ?? global;
    }
    local = null;
  };
}

/** Entry types that are never restored, with the reason given. */
const SPECIAL_TYPES: Partial<Record<string, string>> = {
  'character-device': 'special file: character device',
  'block-device': 'special file: block device',
  fifo: 'special file: FIFO',
};

/** One archive member as `readArchive` hands it over. */
interface ArchiveEntry {
  header: Headers;
  /** The member's bytes; errors reading them are the archive's. Unread bytes are skipped. */
  body: AsyncIterable<Buffer>;
}

/** The archive's bytes could not be read (truncated, corrupt, not tar): never a refusal. */
class ArchiveReadError extends Error {
  override readonly name = 'ArchiveReadError';
}

/**
 * Restores from tar archives (plain, gzip, xz, bzip2 or zstd, told apart by their first bytes), parsed
 * as a stream: each member is checked, then written to scratch while it is hashed.
 * Members that could escape scratch or are not plain data are refused, never written.
 */
export class TarSource implements RestoreSource {
  readonly kind = 'tar';
  readonly #config: TarSourceConfig;
  readonly #context: SourceContext;

  constructor(config: TarSourceConfig, context: SourceContext) {
    this.#config = config;
    this.#context = context;
  }

  listSets(options: { signal?: AbortSignal | undefined }): Promise<BackupSet[]> {
    return findSets(
      this.#config.path,
      this.#context.configDir,
      { kind: 'file', accept: isTarArchiveName },
      options,
    );
  }

  /**
   * The tar data's size: a gzip archive's trailer gives its uncompressed size (modulo
   * 4 GiB, and only the last member's for a multi-member gzip, so never less than the file).
   */
  async restoredSize(set: BackupSet): Promise<number | null> {
    let handle;
    try {
      handle = await open(set.path, 'r');
    } catch {
      return set.size;
    }
    try {
      const { size } = await handle.stat();
      const magic = Buffer.alloc(2);
      await handle.read(magic, 0, 2, 0);
      if (compressionOf(magic) !== 'gzip' || size < 18) return size;
      const trailer = Buffer.alloc(4);
      await handle.read(trailer, 0, 4, size - 4);
      return Math.max(size, trailer.readUInt32LE(0));
    } finally {
      await handle.close();
    }
  }

  /** One pass over the headers (bodies skipped): the regular files a restore would write, with their sizes. */
  async listItems(
    set: BackupSet,
    options: { signal?: AbortSignal | undefined },
  ): Promise<SetItem[]> {
    const items = new Map<string, number>();
    const symlinks = new Set<string>();
    await readArchive(set.path, options.signal, async ({ header }) => {
      const checked = normaliseEntryPath(header.name);
      if (!checked.ok || checked.path === '') return;
      const rel = checked.path;
      if (symlinkAncestor(rel, (candidate) => symlinks.has(candidate)) !== null) return;
      // A later member of the same name replaces an earlier one.
      items.delete(rel);
      symlinks.delete(rel);
      if (header.type === 'file' || header.type === 'contiguous-file')
        items.set(rel, header.size ?? 0);
      else if (header.type === 'symlink') symlinks.add(rel);
    });
    return [...items]
      .map(([path, size]) => ({ path, size }))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async restore(
    set: BackupSet,
    scratchDir: string,
    options: RestoreOptions,
  ): Promise<RestoreOutcome> {
    const items = options.items;
    const signal = options.signal;
    const writer = new ScratchWriter(scratchDir, { createSymlinks: items === null });
    const members = new MemberWriter(writer, signal);
    /** Every regular-file member so far: the only valid hard-link targets. */
    const regularSeen = new Set<string>();
    const found = new Set<string>();
    try {
      await readArchive(set.path, signal, async ({ header, body }) => {
        const name = header.name;
        if (items !== null) {
          // A sample looks only at its own items; other members are skipped unjudged, but
          // symlinks and files are still tracked for the checks on the items.
          const checked = normaliseEntryPath(name);
          if (!checked.ok || !items.has(checked.path)) {
            if (checked.ok && checked.path !== '') track(checked.path, header, writer, regularSeen);
            return;
          }
          found.add(checked.path);
        }
        const rel = writer.admit(name);
        if (rel === null) return;
        const type: string | null = header.type;
        if (type === 'file' || type === 'contiguous-file') {
          if (rel === '') return writer.refuse(name, 'a file cannot be the archive root');
          regularSeen.add(rel);
          await members.file(rel, name, header, body);
        } else if (type === 'directory') {
          if (items !== null) return writer.refuse(name, 'is a folder, not a file');
          if (rel === '') return;
          await members.settle(rel);
          await writer.directory(rel, name);
        } else if (type === 'link') {
          await hardLink(writer, members, rel, name, header.linkname ?? '', regularSeen);
        } else if (type === 'symlink') {
          if (items !== null) return writer.refuse(name, 'is a symlink, not a file');
          writer.symlink(rel, header.linkname ?? '');
        } else if (type && SPECIAL_TYPES[type]) {
          writer.refuse(name, SPECIAL_TYPES[type] as string);
        } else {
          writer.refuse(name, `unsupported tar entry type (typeflag ${typeflagOf(header)})`);
        }
      });
      await members.finish();
    } catch (error) {
      if (!(error instanceof BackupDamagedError) || signal?.aborted) {
        await members.abandon();
        throw error;
      }
      // Damaged part-way: what was restored before the damage is evidence.
      await members.finish();
      const partial = await writer.finish();
      throw new BackupDamagedError(error.message, error.damage, partial, { cause: error });
    }
    if (items !== null)
      for (const item of items) if (!found.has(item)) writer.refuse(item, 'not found in the set');
    return await writer.finish();
  }
}

/** Outside a sample: remember symlinks and regular files so the sample's members are judged rightly. */
function track(
  rel: string,
  header: Headers,
  writer: ScratchWriter,
  regularSeen: Set<string>,
): void {
  if (header.type === 'symlink') {
    writer.symlink(rel, header.linkname ?? '');
    return;
  }
  writer.forget(rel);
  if (header.type === 'file' || header.type === 'contiguous-file') regularSeen.add(rel);
}

async function hardLink(
  writer: ScratchWriter,
  members: MemberWriter,
  rel: string,
  name: string,
  linkname: string,
  regularSeen: Set<string>,
): Promise<void> {
  const target = normaliseEntryPath(linkname);
  if (!target.ok || !regularSeen.has(target.path)) {
    writer.refuse(name, `hard link target '${linkname}' is not an earlier file of the archive`);
    return;
  }
  await members.settle(rel, target.path);
  if (!writer.hasFile(target.path)) {
    writer.refuse(name, `hard link target '${linkname}' was not restored`);
    return;
  }
  await writer.hardLink(rel, target.path, name);
  regularSeen.add(rel);
}

/** Members up to this size are gathered whole and written by a worker thread. */
const SMALL_MEMBER_BYTES = CHUNK_BYTES;
/** A batch for a worker is sent once it holds this many members, or its buffer is full. */
const BATCH_MEMBERS = 64;
/** Each batch's members lie in one buffer of this size, reused batch after batch. */
const BATCH_BYTES = 2 * CHUNK_BYTES;

/** A small member gathered for a worker: its bytes are a view of the batch's buffer. */
interface BatchMember {
  rel: string;
  name: string;
  target: string | Buffer;
  mode: number;
  data: Uint8Array;
}

/**
 * Writes regular members into scratch, hashing while writing. Small members (most of a
 * typical archive) are gathered whole and handed in batches to worker threads, which
 * hash and write them synchronously: the parser never waits on a promise per system call.
 * Large members are streamed here, chunk by chunk. Memory stays bounded by the batches
 * in flight, whose buffers come back from the workers and are reused. A member whose name clashes with one still queued waits for the queue
 * (`settle`), so a later member always replaces an earlier one, as with tar.
 */
class MemberWriter {
  readonly #writer: ScratchWriter;
  readonly #signal: AbortSignal | undefined;
  readonly #threads = Math.max(2, Math.min(4, os.availableParallelism()));
  readonly #batches = new TaskPool(this.#threads * 2);
  /** Started with the first batch: an archive of large members starts no threads. */
  #workers: CopyWorkers | null = null;
  #batch: BatchMember[] = [];
  /** The buffer the batch's members are gathered in, and how much of it they fill. */
  #buffer: ArrayBuffer | null = null;
  #batchBytes = 0;
  /** Batch buffers back from the workers, for the next batches. */
  readonly #spare: ArrayBuffer[] = [];
  /** Names queued or being written by a worker. */
  readonly #pending = new Set<string>();
  readonly #onAbort = (): void => this.#workers?.abort();

  constructor(writer: ScratchWriter, signal: AbortSignal | undefined) {
    this.#writer = writer;
    this.#signal = signal;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Writes one regular member (its body is read here, or left for the caller to skip when refused). */
  async file(
    rel: string,
    name: string,
    header: Headers,
    body: AsyncIterable<Buffer>,
  ): Promise<void> {
    await this.settle(rel);
    const mode = ((header.mode ?? 0o644) & 0o777) | 0o600;
    if ((header.size ?? 0) > SMALL_MEMBER_BYTES) return this.#stream(rel, name, mode, body);
    const target = await this.#writer.prepareTarget(rel, name);
    if (target === null) return;
    const size = header.size ?? 0;
    if (this.#batchBytes + size > BATCH_BYTES) await this.#flush();
    this.#buffer ??= this.#spare.pop() ?? new ArrayBuffer(BATCH_BYTES);
    const data = new Uint8Array(this.#buffer, this.#batchBytes, size);
    // Taken before the body is read: a later member may not reuse the space.
    this.#batchBytes += size;
    let offset = 0;
    for await (const chunk of body) {
      this.#signal?.throwIfAborted();
      data.set(chunk.subarray(0, data.byteLength - offset), offset);
      offset += chunk.byteLength;
    }
    if (offset !== data.byteLength)
      throw new ArchiveReadError('read', {
        cause: new Error('member size does not match its data'),
      });
    this.#batch.push({ rel, name, target, mode, data });
    this.#pending.add(rel);
    if (this.#batch.length >= BATCH_MEMBERS || this.#batchBytes >= BATCH_BYTES) await this.#flush();
  }

  /** Waits for queued writes when `rel`, one of its folders, or `other` is among them. */
  async settle(rel: string, other?: string): Promise<void> {
    if (this.#pending.size === 0) return;
    const pending = (candidate: string): boolean => this.#pending.has(candidate);
    if (
      pending(rel) ||
      (other !== undefined && pending(other)) ||
      symlinkAncestor(rel, pending) !== null
    ) {
      await this.#flush();
      await this.#batches.drain();
    }
  }

  /** Writes what is queued and waits for every write; throws the first failure. */
  async finish(): Promise<void> {
    try {
      await this.#flush();
      await this.#batches.drain();
    } finally {
      await this.#close();
    }
  }

  /** Stops after a failure, waiting for the writes running. */
  async abandon(): Promise<void> {
    this.#workers?.abort();
    await this.#batches.settle();
    await this.#close();
  }

  async #close(): Promise<void> {
    this.#signal?.removeEventListener('abort', this.#onAbort);
    await this.#workers?.close();
  }

  async #stream(
    rel: string,
    name: string,
    mode: number,
    body: AsyncIterable<Buffer>,
  ): Promise<void> {
    const file = await this.#writer.openFile(rel, mode, name);
    if (file === null) return;
    try {
      for await (const chunk of body) {
        this.#signal?.throwIfAborted();
        await file.push(chunk);
      }
    } catch (error) {
      await file.abandon();
      throw error;
    }
    this.#writer.recordFile(rel, await file.end());
  }

  async #flush(): Promise<void> {
    const batch = this.#batch;
    const buffer = this.#buffer;
    if (batch.length === 0 || buffer === null) {
      // Space taken by a member that was never queued (its body failed) is free again.
      this.#batchBytes = 0;
      return;
    }
    this.#batch = [];
    this.#buffer = null;
    this.#batchBytes = 0;
    await this.#batches.run(() => this.#write(batch, buffer));
  }

  async #write(batch: BatchMember[], buffer: ArrayBuffer): Promise<void> {
    this.#workers ??= new CopyWorkers({ threads: this.#threads });
    if (this.#signal?.aborted) this.#workers.abort();
    const written = await this.#workers.write(
      batch.map(({ target, mode, data }) => ({ kind: 'write', target, mode, data: [data] })),
      buffer,
    );
    if (written.buffer.byteLength === BATCH_BYTES) this.#spare.push(written.buffer);
    const results = written.results;
    for (const [index, result] of results.entries()) {
      const { rel, name } = batch[index] as { rel: string; name: string };
      this.#pending.delete(rel);
      if (result.kind === 'copied') this.#writer.recordFile(rel, result);
      else if (result.kind === 'aborted') {
        this.#signal?.throwIfAborted();
        throw new Error('write aborted');
      } else if (result.kind === 'read-error' || result.kind === 'write-error')
        this.#writer.writeFailed(name, 'cannot write file', result);
    }
  }
}

function typeflagOf(header: Headers): string {
  return header.type ?? (header.typeflag === undefined ? 'unknown' : `'${header.typeflag}'`);
}

/**
 * Streams the archive at `file` through `onEntry`, one member at a time (decompressing
 * gzip, xz, bzip2 or zstd when its first bytes say so, whatever its name). A missing or
 * unreadable file, a decompressor that cannot run are `SourceError`s; damaged data (the
 * decompressor's complaint, a bad header, a short read, no end-of-archive marker) is a `BackupDamagedError` naming the archive, the
 * member being read and the offset in the tar data where it ended or went bad.
 */
async function readArchive(
  file: string,
  signal: AbortSignal | undefined,
  onEntry: (entry: ArchiveEntry) => Promise<void>,
): Promise<void> {
  signal?.throwIfAborted();
  const { compression, stream: source } = await openDecompressed(file, {
    signal,
    chunkBytes: CHUNK_BYTES,
    label: 'backup set',
  });

  // v7 headers (no ustar magic) are still tar; their checksums are checked all the same.
  const extract = tarExtract({
    allowUnknownFormat: true,
    filenameEncoding: 'latin1',
  } as Parameters<typeof tarExtract>[0]);
  keepRawPaxNames(extract);
  const end = watchHeaders(extract);
  let bytes = 0;
  const pumping = pump(source, extract, (count) => (bytes += count)).then(
    () => null,
    (error: unknown) => {
      // The parser still hands over the members it was given before the damage: the
      // member being read is named. A decompressor's complaint arrives after its output.
      if (isCompressedDataError(error) && !extract.destroyed) extract.end(undefined);
      else extract.destroy(error as Error);
      return error;
    },
  );
  const onAbort = (): void => {
    source.destroy();
    extract.destroy(new ArchiveReadError('aborted'));
  };
  signal?.addEventListener('abort', onAbort, { once: true });

  let current: string | null = null;
  let previous: string | null = null;
  let endOfLast = 0;
  try {
    const entries = extract[Symbol.asyncIterator]();
    for (;;) {
      let next;
      try {
        next = await entries.next();
      } catch (error) {
        throw new ArchiveReadError('read', { cause: error });
      }
      if (next.done) break;
      signal?.throwIfAborted();
      const stream = next.value as unknown as AsyncIterable<Buffer>;
      const header = next.value.header as unknown as Headers;
      const rawPax = (header as { rawPax?: RawPaxNames }).rawPax;
      header.name = escapedName(header.name, rawPax?.path);
      if (header.linkname !== null)
        header.linkname = escapedName(header.linkname, rawPax?.linkpath);
      current = header.name;
      // Its data is a map of holes and pieces, not the file: restored as is it would be wrong,
      // and an old-GNU one with more than four pieces puts extra header blocks before its data.
      if (isGnuSparse(header))
        throw new SourceError(
          `archive ${file}: member ${header.pax?.['GNU.sparse.name'] ?? header.name} is a GNU sparse file (tar --sparse), which restore-drill cannot restore: the drill cannot judge this archive`,
        );
      // GNU's dumpdir (`tar --listed-incremental`): a folder; its data lists the names it held.
      if (header.typeflag === 'D') header.type = 'directory';
      // GNU's volume label (`tar --label`) names the archive and holds no file.
      if (header.typeflag !== 'V') await onEntry({ header, body: chunksOf(stream) });
      // Skip what the handler left unread.
      for await (const chunk of chunksOf(stream)) void chunk;
      const offset = header.byteOffset ?? endOfLast;
      endOfLast = offset + Math.ceil((header.size ?? 0) / BLOCK) * BLOCK;
      previous = current;
      current = null;
    }
    const failure = await pumping;
    if (failure !== null) throw new ArchiveReadError('read', { cause: failure });
    // An archive cut at a member boundary parses cleanly: only the end-of-archive blocks tell.
    if (!end.ended())
      throw new ArchiveReadError('read', { cause: new Error('no end-of-archive marker') });
  } catch (error) {
    source.destroy();
    extract.destroy(new ArchiveReadError('closed'));
    const failure = await pumping;
    if (signal?.aborted) throw signal.reason;
    if (!(error instanceof ArchiveReadError)) throw error;
    // The first failure is the cause; a premature close only follows one.
    let cause =
      failure !== null && (failure as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE'
        ? failure
        : error.cause;
    // Garbage from damaged compressed data can upset the parser before the decompressor
    // reaches the block's check: its own complaint is the truer cause.
    if (compression !== 'none' && !isCompressedDataError(cause))
      cause = (await compressedDamage(file, signal)) ?? cause;
    if (signal?.aborted) throw signal.reason;
    const where =
      current !== null
        ? `at entry ${current}`
        : previous !== null
          ? `after entry ${previous}`
          : 'before the first entry';
    const detail = describeArchiveError(cause);
    // Between members the damage has no entry of its own: the one before it places it. A bad
    // header starts where that member's data ended; `bytes` is only how far the reading got.
    const between = current === null && previous !== null ? ` after entry ${previous}` : '';
    const offset = current === null && detail === INVALID_HEADER ? endOfLast : bytes;
    // A gzip checksum is checked at its member's end and covers all of it: no entry or byte placed it.
    if (/incorrect (data|length) check/.test(detail))
      throw new BackupDamagedError(
        `unreadable archive ${file}: ${detail}`,
        {
          detail: `${detail}: the data does not match the gzip checksum`,
          entry: null,
          offset: null,
        },
        undefined,
        { cause },
      );
    throw new BackupDamagedError(
      `unreadable archive ${file}: ${detail} ${where}`,
      { detail: `${detail}${between}`, entry: current ?? null, offset },
      undefined,
      { cause },
    );
  } finally {
    signal?.removeEventListener('abort', onAbort);
    source.destroy();
    // No decompressor outlives the read.
    await closed(source);
  }
}

/** The member's bytes, with read failures marked as the archive's. */
async function* chunksOf(stream: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of stream) yield chunk;
  } catch (error) {
    throw new ArchiveReadError('read', { cause: error });
  }
}

/** Feeds the (decompressed) bytes to the tar parser, honouring its back-pressure. */
async function pump(
  source: Readable,
  extract: ReturnType<typeof tarExtract>,
  count: (bytes: number) => void,
): Promise<void> {
  for await (const chunk of source as AsyncIterable<Buffer>) {
    count(chunk.byteLength);
    // A parser destroyed already (a failed write, an abort) has closed: waiting for it would hang.
    if (!extract.write(chunk) && !extract.destroyed) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          extract.off('drain', done);
          extract.off('close', done);
          resolve();
        };
        extract.on('drain', done);
        extract.on('close', done);
      });
    }
    if (extract.destroyed) return;
  }
  extract.end(undefined);
}

const INVALID_HEADER = 'invalid tar header (bad checksum or not a tar archive)';

function describeArchiveError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (/unexpected end of (data|file)/i.test(message)) return 'unexpected end of data';
  if (message === 'no end-of-archive marker')
    return 'unexpected end of data (no end-of-archive marker)';
  if (error instanceof CompressedDataError) return message;
  if (code?.startsWith('Z_')) return `corrupt gzip data (${message})`;
  if (/invalid tar header/i.test(message) || message === 'Invalid header') return INVALID_HEADER;
  if (message === 'Header exceeds max size') return 'a long-name header exceeds 4 MiB';
  return describeFsError(error);
}

export const tarSourceKind = defineSourceKind({
  ...tarSourceConfigKind,
  create(config, context) {
    return new TarSource(config, context);
  },
});

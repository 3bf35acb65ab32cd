import { retry, type RetryOptions } from '../model/retry.js';
import { resultFromFindings, type CheckResult, type Finding } from '../model/check-result.js';
import { plural } from '../model/describe.js';
import type { Logger } from '../log/logger.js';
import {
  CHUNK_BYTES,
  type HashingFileWriter,
  type WrittenDigest,
} from '../scratch/hashing-writer.js';
import { ScratchWriter } from '../scratch/scratch-writer.js';
import { TaskPool } from '../scratch/task-pool.js';
import { ObjectStoreError, type ObjectStore, type StoredObject } from './object-store.js';
import { type RestoreOptions, type RestoreOutcome, type RestoreSource } from './restore-source.js';
import { SourceError, type BackupSet, type SetItem } from '../model/restore.js';
import { createS3ObjectStore } from './s3-object-store.js';
import { ObjectVerifier, partCountOf } from './s3-verify.js';
import { defineSourceKind } from './source-kind.js';
import type { CauseCode } from '../model/causes.js';
import { fileNameOf } from '../model/file-name.js';

import { compileNameGlob, s3SourceConfigKind, type S3SourceConfig } from './s3-source-config.js';

/** Backoff between retries: the delay doubles from `baseMs` up to `maxMs`, with jitter. */
export interface RetryBackoff {
  baseMs: number;
  maxMs: number;
}

const DEFAULT_BACKOFF: RetryBackoff = { baseMs: 250, maxMs: 20_000 };

export const s3SourceKind = defineSourceKind({
  ...s3SourceConfigKind,
  create(config, context) {
    const store = createS3ObjectStore({
      bucket: config.bucket,
      endpoint: config.endpoint,
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      credentials: config.credentials,
      checksums: config.checksums,
      timeoutMs: config.timeout,
    });
    return createS3Source(config, store, { log: context.log });
  },
});

/** The name of the check the source returns in `outcome.checks`. */
export const S3_INTEGRITY_CHECK = 's3-integrity';

/** One object of a set as listed before the restore: what the downloaded one must still be. */
interface ListedObject {
  key: string;
  /** Path relative to the set (prefixes) or the base name (objects), as S3 names it. */
  rel: string;
  /** `rel` in the escaped form every item name takes (control characters escaped, docs/file-names.md). */
  name: string;
  size: number;
  etag: string | null;
}

/** The `s3` source over any `ObjectStore`; `backoff` exists so tests need not wait seconds. */
export function createS3Source(
  config: S3SourceConfig,
  store: ObjectStore,
  options: { log: Logger; backoff?: RetryBackoff | undefined },
): RestoreSource {
  return new S3Source(config, store, options.log, options.backoff ?? DEFAULT_BACKOFF);
}

class S3Source implements RestoreSource {
  readonly kind = 's3';
  readonly #prefix: string;
  readonly #match: RegExp | null;

  constructor(
    private readonly config: S3SourceConfig,
    private readonly store: ObjectStore,
    private readonly log: Logger,
    private readonly backoff: RetryBackoff,
  ) {
    this.#prefix =
      config.prefix === '' || config.prefix.endsWith('/') ? config.prefix : `${config.prefix}/`;
    this.#match = config.match ? (compileNameGlob(config.match) ?? null) : null;
  }

  async listSets(options: { signal?: AbortSignal | undefined }): Promise<BackupSet[]> {
    const where = this.#uri(this.#prefix);
    if (this.config.layout === 'objects') {
      const objects: StoredObject[] = [];
      await this.#listAll(this.#prefix, '/', options.signal, (page) =>
        objects.push(...page.objects),
      );
      return objects
        .filter(
          (object) =>
            !object.key.endsWith('/') && this.#matches(object.key.slice(this.#prefix.length)),
        )
        .map((object) => ({
          id: object.key,
          path: this.#uri(object.key),
          size: object.size,
          mtime: object.lastModified,
          hash: object.etag,
        }));
    }
    const prefixes: string[] = [];
    await this.#listAll(this.#prefix, '/', options.signal, (page) =>
      prefixes.push(...page.prefixes),
    );
    const chosen = prefixes.filter((prefix) =>
      this.#matches(prefix.slice(this.#prefix.length, -1)),
    );
    this.log.debug(
      { where, sets: chosen.length },
      's3: listing inside each set for its size and time',
    );
    const sets: BackupSet[] = new Array(chosen.length);
    const pool = new TaskPool(this.config.concurrency);
    try {
      for (const [index, prefix] of chosen.entries()) {
        await pool.run(async () => {
          let size = 0;
          let newest: Date | null = null;
          await this.#listAll(prefix, undefined, options.signal, (page) => {
            for (const object of page.objects) {
              size += object.size;
              if (object.lastModified && (!newest || object.lastModified > newest))
                newest = object.lastModified;
            }
          });
          sets[index] = { id: prefix, path: this.#uri(prefix), size, mtime: newest, hash: null };
        });
      }
      await pool.drain();
    } catch (error) {
      await pool.settle();
      throw error;
    }
    return sets;
  }

  async listItems(
    set: BackupSet,
    options: { signal?: AbortSignal | undefined },
  ): Promise<SetItem[]> {
    const listed = await this.#listSet(set, options.signal);
    return listed.map((object) => ({ path: object.name, size: object.size }));
  }

  async restore(
    set: BackupSet,
    scratchDir: string,
    options: RestoreOptions,
  ): Promise<RestoreOutcome> {
    options.signal?.throwIfAborted();
    const listed = await this.#listSet(set, options.signal);
    // S3 has no symlinks; the writer still refuses clashes and never writes through a link.
    const writer = new ScratchWriter(scratchDir, { createSymlinks: false });
    let chosen: ListedObject[];
    if (options.items === null) chosen = listed;
    else {
      const byName = new Map(listed.map((object) => [object.name, object]));
      chosen = [];
      for (const item of options.items) {
        const object = byName.get(item);
        if (object) chosen.push(object);
        else
          writer.refuse(
            this.config.layout === 'objects' ? fileNameOf(set.id) : `${fileNameOf(set.id)}${item}`,
            'not found in the set',
          );
      }
    }
    const safe = admitObjects(chosen, writer);
    const findings: Finding[] = [];
    const stats = new IntegrityStats();
    // A failure that ends the restore also cancels the downloads in flight.
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    const pool = new TaskPool(this.config.concurrency);
    try {
      for (const object of safe) {
        await pool.run(async () => {
          try {
            const result = await this.#download(object, writer, signal, options.log);
            findings.push(...result.findings);
            if (result.written)
              stats.add(
                fileNameOf(object.key),
                result.verifiedBy,
                result.findings.length > 0,
                result.unverifiable,
              );
          } catch (error) {
            stop.abort(new Error('another download failed'));
            throw error;
          }
        });
      }
      await pool.drain();
    } catch (error) {
      await pool.settle();
      options.signal?.throwIfAborted();
      throw error;
    }
    const { files, refused } = await writer.finish();
    return {
      files,
      refused,
      checks: [stats.result(safe.length, sum(safe.map((o) => o.size)), findings)],
      verification: stats.verification(),
    };
  }

  /** The objects of a set as they are now, with the ETag and size every download must match. */
  async #listSet(set: BackupSet, signal: AbortSignal | undefined): Promise<ListedObject[]> {
    if (this.config.layout === 'objects') {
      // The set is the object; its listing was the one `listSets` made when the set was chosen.
      const head = await this.#withRetries(this.#uri(set.id), signal, () =>
        this.store.head(set.id, { signal }),
      );
      return [
        {
          key: set.id,
          rel: set.id.slice(set.id.lastIndexOf('/') + 1),
          name: fileNameOf(set.id.slice(set.id.lastIndexOf('/') + 1)),
          size: set.size ?? head.size,
          etag: set.hash ?? head.etag,
        },
      ];
    }
    const objects: ListedObject[] = [];
    await this.#listAll(set.id, undefined, signal, (page) => {
      for (const object of page.objects) {
        const rel = object.key.slice(set.id.length);
        // Empty "folder" objects made by consoles are not files.
        if ((rel === '' || rel.endsWith('/')) && object.size === 0) continue;
        objects.push({
          key: object.key,
          rel,
          name: fileNameOf(rel),
          size: object.size,
          etag: object.etag,
        });
      }
    });
    if (objects.length === 0)
      throw new SourceError(
        `${this.#uri(set.id)}: no objects under this prefix (deleted since it was listed?)`,
      );
    return objects;
  }

  /**
   * Downloads one object into scratch, hashing while writing; a transient failure starts it over
   * (the file is truncated, the hashes are new). Store-side surprises become findings; scratch
   * problems and exhausted retries throw.
   */
  async #download(
    object: ListedObject,
    writer: ScratchWriter,
    signal: AbortSignal,
    log: Logger,
  ): Promise<DownloadResult> {
    const expected = { etag: object.etag, size: object.size };
    const finding = (problem: string, actual: unknown): DownloadResult => ({
      written: false,
      findings: [{ item: fileNameOf(object.key), problem, expected, actual }],
      verifiedBy: [],
      unverifiable: null,
    });
    const notWritten: DownloadResult = {
      written: false,
      findings: [],
      verifiedBy: [],
      unverifiable: null,
    };
    // Looked up once, kept across retries: a multipart object's part sizes.
    let parts: PartSizes | null = null;
    let attempts = 0;
    const attempt = async (): Promise<DownloadResult> => {
      attempts += 1;
      let file: HashingFileWriter | null = null;
      try {
        // The listed ETag names the parts: their sizes are asked before the body starts to flow.
        const listedParts = partCountOf(object.etag, { checksums: {}, etagIsNotMd5: false });
        if (listedParts !== null) parts ??= await this.#partSizes(object.key, listedParts, signal);
        const download = await this.store.get(object.key, {
          ifMatch: object.etag ?? undefined,
          signal,
        });
        if (
          (object.etag !== null && download.etag !== null && download.etag !== object.etag) ||
          (download.contentLength !== null && download.contentLength !== object.size)
        ) {
          download.discard();
          return finding('changed', { etag: download.etag, size: download.contentLength });
        }
        // Only composite checksums name the parts (an encrypted object's ETag does not).
        const partCount = partCountOf(object.etag, download);
        if (partCount !== null && parts?.count !== partCount) {
          try {
            parts = await this.#partSizes(object.key, partCount, signal);
          } catch (error) {
            download.discard();
            throw error;
          }
        }
        file = await writer.openFile(object.name, 0o644, fileNameOf(object.key));
        if (file === null) {
          // Refused by the writer (a name clash); the refusal is its evidence.
          download.discard();
          return notWritten;
        }
        const verifier = new ObjectVerifier(
          object.etag,
          download,
          parts?.sizes ?? null,
          parts?.missing ?? null,
        );
        for await (const chunk of coalesce(download.body, CHUNK_BYTES)) {
          verifier.update(chunk);
          await file.push(chunk);
        }
        const digest = await file.end();
        file = null;
        writer.recordFile(object.name, digest);
        return { written: true, ...this.#verify(object, digest, verifier) };
      } catch (error) {
        // Each attempt starts the file afresh.
        if (file !== null) await file.abandon();
        throw error;
      }
    };
    try {
      return await retry(
        attempt,
        this.#retryOptions(signal, (error, tries, delayMs) =>
          log.warn(
            { key: object.key, attempt: tries, of: this.config.retries, code: error.code, delayMs },
            `s3: ${error.message}; retrying`,
          ),
        ),
      );
    } catch (error) {
      signal.throwIfAborted();
      if (!(error instanceof ObjectStoreError)) {
        if (error instanceof SourceError) throw error;
        // A scratch problem: a clash refuses the entry, anything else (a full disk) ends the restore.
        await writer.discardFile(object.name);
        writer.writeFailed(object.key, 'cannot write file', error);
        return notWritten;
      }
      await writer.discardFile(object.name);
      switch (error.kind) {
        case 'not-found':
          return finding('deleted', `gone during the restore (${error.code})`);
        case 'changed':
          return finding('changed', `replaced during the restore (${error.code})`);
        case 'checksum-mismatch': {
          // The SDK failed the read at its end; bytes that contradict the store are not kept.
          const checksum = error.details.checksum;
          return {
            written: false,
            findings: [
              {
                item: fileNameOf(object.key),
                problem: 'checksum-mismatch',
                expected: checksum
                  ? `${checksum.algorithm} ${checksum.stored} (stored by the store)`
                  : 'the checksum the store keeps',
                actual: checksum ? `${checksum.algorithm} ${checksum.computed}` : error.message,
              },
            ],
            verifiedBy: [],
            unverifiable: null,
          };
        }
        default:
          throw this.#sourceError(this.#uri(object.key), error, attempts);
      }
    }
  }

  /** Compares what landed with what the store recorded: size, ETag, stored checksums. */
  #verify(
    object: ListedObject,
    digest: WrittenDigest,
    verifier: ObjectVerifier,
  ): Omit<DownloadResult, 'written'> {
    const findings: Finding[] = [];
    if (digest.size !== object.size) {
      findings.push({
        item: fileNameOf(object.key),
        problem: 'size-mismatch',
        expected: object.size,
        actual: digest.size,
      });
    }
    const verification = verifier.finish();
    for (const mismatch of verification.mismatches) {
      if (mismatch.label === 'ETag')
        findings.push({
          item: fileNameOf(object.key),
          problem: 'md5-mismatch',
          expected: `ETag ${mismatch.stored}`,
          actual: `MD5 ${mismatch.computed}`,
        });
      else if (mismatch.label === 'multipart ETag')
        findings.push({
          item: fileNameOf(object.key),
          problem: 'etag-mismatch',
          expected: `multipart ETag ${mismatch.stored}`,
          actual: `multipart ETag ${mismatch.computed} (MD5 of the parts' MD5s)`,
        });
      else
        findings.push({
          item: fileNameOf(object.key),
          problem: 'checksum-mismatch',
          expected: `${mismatch.label} ${mismatch.stored} (stored by the store)`,
          actual: `${mismatch.label} ${mismatch.computed}`,
        });
    }
    return {
      findings,
      verifiedBy: verification.verifiedBy,
      unverifiable: verification.unverifiable,
    };
  }

  /**
   * The sizes of a multipart object's parts; `missing` says why they are unknown when the
   * store tells neither through GetObjectAttributes nor through HEAD with partNumber.
   */
  async #partSizes(key: string, count: number, signal: AbortSignal): Promise<PartSizes> {
    const sizes = await this.store.partSizes(key, { parts: count, signal });
    if (sizes === null)
      return {
        count,
        sizes: null,
        missing:
          'part sizes unknown: the store answers neither GetObjectAttributes nor HEAD with partNumber',
      };
    return { count, sizes, missing: null };
  }

  /** Lists every page; `visit` sees each. */
  async #listAll(
    prefix: string,
    delimiter: string | undefined,
    signal: AbortSignal | undefined,
    visit: (page: { objects: StoredObject[]; prefixes: string[] }) => void,
  ): Promise<void> {
    let token: string | undefined;
    do {
      const page = await this.#withRetries(this.#uri(prefix), signal, () =>
        this.store.list({ prefix, delimiter, continuationToken: token, signal }),
      );
      visit(page);
      token = page.nextToken;
    } while (token !== undefined);
  }

  /** Runs one request, retrying transient failures; anything else becomes a one-line `SourceError`. */
  async #withRetries<T>(
    where: string,
    signal: AbortSignal | undefined,
    run: () => Promise<T>,
  ): Promise<T> {
    let attempts = 0;
    try {
      return await retry(
        () => {
          attempts += 1;
          return run();
        },
        this.#retryOptions(signal, (error, attempt, delayMs) =>
          this.log.warn(
            { where, attempt, of: this.config.retries, code: error.code, delayMs },
            `s3: ${error.message}; retrying`,
          ),
        ),
      );
    } catch (error) {
      signal?.throwIfAborted();
      if (!(error instanceof ObjectStoreError)) throw error;
      throw this.#sourceError(where, error, attempts);
    }
  }

  /** The source's retry policy: `retries` of transient store failures, with backoff. */
  #retryOptions(
    signal: AbortSignal | undefined,
    log: (error: ObjectStoreError, attempt: number, delayMs: number) => void,
  ): RetryOptions {
    return {
      retries: this.config.retries,
      initialDelayMs: this.backoff.baseMs,
      maxDelayMs: this.backoff.maxMs,
      transient: (error) => error instanceof ObjectStoreError && error.kind === 'transient',
      signal,
      onRetry: (error, attempt, delayMs) => log(error as ObjectStoreError, attempt, delayMs),
    };
  }

  #sourceError(where: string, error: ObjectStoreError, attempts: number): SourceError {
    const tries =
      error.kind === 'transient' ? `, after ${attempts} attempt${attempts === 1 ? '' : 's'}` : '';
    return new SourceError(`${where}: ${error.message}${tries}`, error.kind === 'transient', {
      cause: error,
      code: storeCauseCode(error),
    });
  }

  #matches(baseName: string): boolean {
    return this.#match === null || this.#match.test(baseName);
  }

  #uri(key: string): string {
    return `${this.store.location}/${key}`;
  }
}

/** The objects that can land safely under scratch; the others are refused through `writer`. */
function admitObjects(objects: readonly ListedObject[], writer: ScratchWriter): ListedObject[] {
  const candidates: ListedObject[] = [];
  for (const object of objects) {
    const reason = unsafeReason(object.rel);
    if (reason) writer.refuse(fileNameOf(object.key), reason);
    else candidates.push(object);
  }
  // S3 allows both `a` and `a/b`; a file system cannot hold both. Decided here, not by download order.
  const names = new Set(candidates.map((object) => object.rel));
  const safe: ListedObject[] = [];
  for (const object of candidates) {
    const parts = object.rel.split('/');
    const clash = parts
      .slice(0, -1)
      .map((_, index) => parts.slice(0, index + 1).join('/'))
      .find((folder) => names.has(folder));
    if (clash !== undefined)
      writer.refuse(
        fileNameOf(object.key),
        `its folder '${fileNameOf(clash)}' is also an object of the set`,
      );
    else safe.push(object);
  }
  return safe;
}

/** Why a key's relative path cannot be written under scratch; null when it can. */
function unsafeReason(rel: string): string | null {
  if (rel.includes('\\')) return 'the key contains a backslash, a path separator on some systems';
  if (rel.includes('\0')) return 'the key contains a NUL byte';
  if (rel.startsWith('/')) return 'the key is an absolute path';
  const parts = rel.split('/');
  if (parts.includes('..')) return "the key has a '..' segment that would escape scratch";
  if (parts.some((part) => part === '' || part === '.'))
    return "the key has an empty or '.' segment";
  return null;
}

/** What one download came to: written or not, its problems, how it was verified or why it could not be. */
interface DownloadResult {
  written: boolean;
  findings: Finding[];
  verifiedBy: string[];
  /** Why nothing could verify the object (its bytes landed, unchecked); null when something did or it failed. */
  unverifiable: string | null;
}

/** A multipart object's part sizes, or why they are unknown. */
interface PartSizes {
  count: number;
  sizes: number[] | null;
  missing: string | null;
}

/** How evidence and messages name a verification method. */
function describeMethod(method: string): string {
  if (method === 'md5') return 'ETag MD5';
  if (method === 'multipart-md5') return 'multipart ETag';
  if (method.startsWith('composite-')) return `composite ${method.slice(10).toUpperCase()}`;
  return `stored ${method.toUpperCase()}`;
}

/** Tallies how each object was verified, for the `s3-integrity` result. */
class IntegrityStats {
  readonly #by = new Map<string, number>();
  /** Objects that landed with nothing to check them against, and why. */
  readonly #unverifiable: Finding[] = [];
  #verified = 0;
  #written = 0;

  add(key: string, verifiedBy: readonly string[], failed: boolean, why: string | null): void {
    this.#written++;
    for (const method of verifiedBy) this.#by.set(method, (this.#by.get(method) ?? 0) + 1);
    if (verifiedBy.length > 0) this.#verified++;
    else if (!failed)
      this.#unverifiable.push({
        item: key,
        problem: 'unverifiable',
        expected: 'an MD5 or multipart ETag, or a checksum the store keeps',
        actual: why ?? 'nothing to verify against',
      });
  }

  /** What the drill needs to tell a restore nothing verified from one that was checked. */
  verification(): { items: number; verified: number } {
    return { items: this.#written, verified: this.#verified };
  }

  result(objects: number, bytes: number, findings: Finding[]): CheckResult {
    const by = Object.fromEntries([...this.#by.entries()].sort());
    const how = Object.entries(by)
      .map(([method, count]) => `${count} by ${describeMethod(method)}`)
      .join(', ');
    // Downloads finish in any order; evidence lists them by key.
    this.#unverifiable.sort((a, b) => (a.item < b.item ? -1 : a.item > b.item ? 1 : 0));
    const unverifiable = this.#unverifiable.length;
    const firstUnverifiable = this.#unverifiable[0];
    const matched =
      `${this.#verified} of ${plural(objects, 'object')} ${this.#verified === 1 ? 'matches' : 'match'} what the store recorded` +
      (how ? ` (${how})` : '');
    const unverifiedNote = firstUnverifiable
      ? `${unverifiable} unverifiable, first: ${firstUnverifiable.item} (${String(firstUnverifiable.actual)})`
      : '';
    // A failure outranks a warning; the unverifiable objects are still listed after the failures.
    const result = resultFromFindings(S3_INTEGRITY_CHECK, [...findings, ...this.#unverifiable], {
      expected: {
        objects,
        bytes,
        against: 'the ETags, sizes and checksums the store recorded at listing',
      },
      actual: {
        verified: this.#verified,
        by,
        unverifiable,
        problems: findings.length,
      },
      passDetail: matched,
      failDetail: () =>
        findings.length > 0
          ? `${plural(findings.length, 'object')} ${findings.length === 1 ? 'differs' : 'differ'} from what the store recorded; first: ${findings[0]?.item} (${findings[0]?.problem})`
          : `${matched}; ${unverifiedNote}`,
      onFinding: findings.length > 0 ? 'fail' : 'warn',
    });
    return result;
  }
}

/** Regroups a body's network-sized chunks into pieces of about `size` bytes: hashing small chunks runs at half speed. */
async function* coalesce(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Buffer> {
  let pending: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of source) {
    pending.push(chunk);
    bytes += chunk.byteLength;
    if (bytes >= size) {
      yield Buffer.concat(pending, bytes);
      pending = [];
      bytes = 0;
    }
  }
  if (bytes > 0) yield Buffer.concat(pending, bytes);
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

/** The run's cause code for a store failure: unreachable after retries or without its bucket, credentials refused, or other. */
function storeCauseCode(error: ObjectStoreError): CauseCode {
  if (error.kind === 'transient' || error.code === 'NoSuchBucket') return 'source.unreachable';
  if (
    /^(AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|ExpiredToken|InvalidToken)$/.test(
      error.code,
    )
  )
    return 'source.auth';
  return 'source.failed';
}

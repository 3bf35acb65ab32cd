import type { CauseCode, CodedError } from './causes.js';
import type { ExecRecord } from './exec-record.js';

/** What every kind of source restores and reports, shared by the layers that write, check and record it. */

/** One backup set a source can offer: a dated folder, an archive, a snapshot, a dump. */
export interface BackupSet {
  /** Stable identity within the source: a path, an object key, a snapshot id. */
  id: string;
  /** Where it lives, human readable and free of secrets (a path or `s3://bucket/key`). */
  path: string;
  /** Total size in bytes when known without reading it. */
  size: number | null;
  /** When the backup was taken (its mtime or snapshot time); the RPO check compares against it. */
  mtime: Date | null;
  /** The set's own content hash when cheap (an ETag, a snapshot id); null otherwise. */
  hash: string | null;
}

/** One restorable item of a set, used for sampling: a file, an object, a table. */
export interface SetItem {
  /** Path relative to the set root, with `/` separators and no leading `./`. */
  path: string;
  size: number;
}

/** A file as it landed in scratch, hashed while it was written. */
export interface RestoredFile {
  /** Path relative to the scratch folder, `/` separated. */
  path: string;
  size: number;
  /** Lower-case hex SHA-256 of the restored bytes. */
  sha256: string;
}

/**
 * A symbolic link as it landed in scratch: restored as a link, never followed. Its
 * content for checks is its target string, whatever it points at (inside, outside, nothing).
 */
export interface RestoredLink {
  /** Path relative to the scratch folder, `/` separated. */
  path: string;
  /** The link's target exactly as stored (relative, absolute or dangling). */
  target: string;
}

/** An entry the source refused to restore, with the reason (it would escape scratch, say). */
export interface RefusedEntry {
  entry: string;
  reason: string;
}

/**
 * An entry that holds no data and is not restored: a socket, FIFO or device node. GNU tar
 * and rsync skip sockets, and a device needs root to make; none is a sign of damage.
 */
export interface SkippedEntry {
  entry: string;
  /** What it is: `socket`, `FIFO`, `character device`, `block device`. */
  kind: string;
}

/** A table restored into a scratch database, with its row count. */
export interface RestoredTable {
  name: string;
  rows: number;
}

/** Where and how a backup's data ended or went bad. */
export interface BackupDamage {
  /** What is wrong, one line: `unexpected end of data`, `corrupt gzip data (invalid distance)`. */
  detail: string;
  /** The entry (member, table, file) being read when the data ended or went bad; null when none was. */
  entry: string | null;
  /** Byte offset in the backup's (decompressed) data where the damage was noticed, when known. */
  offset: number | null;
}

/**
 * The restore could not be attempted: verdict `error`, with this one-line message as
 * the cause after its code (`source.failed` unless the thrower knows better).
 */
export class SourceError extends Error implements CodedError {
  override readonly name = 'SourceError';
  readonly causeCode: CauseCode;
  /** The commands the source ran before it gave up, with their output tails: kept in the run's record. */
  readonly commands: ExecRecord[];
  constructor(
    message: string,
    /** Transient errors (throttling, a 503) may be retried; permanent ones may not. */
    readonly transient = false,
    options?: { cause?: unknown; code?: CauseCode; commands?: readonly ExecRecord[] },
  ) {
    super(message, options);
    this.causeCode = options?.code ?? 'source.failed';
    this.commands = [...(options?.commands ?? [])];
  }

  /** The same failure, with the commands run before it (theirs first): a source throwing partway keeps them all. */
  withCommandsBefore(before: readonly ExecRecord[]): SourceError {
    return new SourceError(this.message, this.transient, {
      cause: this.cause,
      code: this.causeCode,
      commands: [...before, ...this.commands],
    });
  }
}

import type { Logger } from '../log/logger.js';
import type { CheckResult } from '../checks/check.js';
import type { ExecRecord } from '../exec/run-command.js';
import type { RestoredDatabase } from './restored-database.js';
import type { CauseCode, CodedError } from '../model/causes.js';

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

/** A table restored into a scratch database, with its row count. */
export interface RestoredTable {
  name: string;
  rows: number;
}

export interface RestoreOptions {
  /** Items to restore (paths from `listItems`); null restores the whole set. */
  items: ReadonlySet<string> | null;
  signal?: AbortSignal | undefined;
  log: Logger;
}

/** What a restore did: the evidence checks read, and the source's own findings. */
export interface RestoreOutcome {
  /** Regular files (hard links count once per name); links are not files. */
  files: RestoredFile[];
  /** Symbolic links restored as links, sorted by path; absent for sources that restore none. */
  links?: RestoredLink[];
  refused: RefusedEntry[];
  /** Tables, for sources that restore into a database. */
  tables?: RestoredTable[];
  /** The database restored into, for sources that restore into one: checks query it read-only until `dispose`. */
  database?: RestoredDatabase;
  /** Subprocesses run, with their redacted command, exit code and output tail. */
  commands?: ExecRecord[];
  /** Checks only the source can make (S3's stored checksums, `restic check`), named by the source. */
  checks?: CheckResult[];
  /**
   * How many restored items the source itself checked against values the backup's store
   * recorded (S3's ETags and checksums); absent for kinds that check nothing themselves.
   * A restore with items and none verified, and no manifest to check them, proves nothing.
   */
  verification?: { items: number; verified: number };
  /** Frees what the restore holds outside scratch (a scratch database); called once, after the checks. */
  dispose?: () => Promise<void>;
  /** Set when the backup turned out damaged part-way: what is above is what was restored before. */
  damage?: BackupDamage;
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
 * A kind of backup a drill can restore from. One module per kind implements it;
 * `registry.ts` lists the kinds. Methods throw `SourceError` when the restore cannot
 * be attempted at all (no set, unreadable archive): the run's verdict is then `error`.
 */
export interface RestoreSource {
  readonly kind: string;
  /** Candidate sets, in no particular order; empty when nothing matched. */
  listSets(options: { signal?: AbortSignal | undefined }): Promise<BackupSet[]>;
  /** The items of one set, for sampling; sources that cannot list cheaply may read the whole set. */
  listItems(set: BackupSet, options: { signal?: AbortSignal | undefined }): Promise<SetItem[]>;
  /**
   * A lower bound on the bytes a whole-set restore writes, when the source can tell cheaply
   * (a gzip trailer, a listing): scratch space is checked against it. Absent or null: `set.size`.
   */
  restoredSize?(
    set: BackupSet,
    options: { signal?: AbortSignal | undefined },
  ): Promise<number | null>;
  /**
   * Restores the set (or the chosen items) into `scratchDir`, which exists and is empty.
   * Damaged data throws `BackupDamagedError` with what was restored before it.
   */
  restore(set: BackupSet, scratchDir: string, options: RestoreOptions): Promise<RestoreOutcome>;
}

/**
 * The backup was reached and is not fully restorable: the run's verdict is `failed`
 * (never `error`), the restore check names the damage, and `partial` keeps what was
 * restored before it (files, commands) as evidence. `message` is one line naming the set.
 */
export class BackupDamagedError extends Error implements CodedError {
  override readonly name = 'BackupDamagedError';
  readonly causeCode = 'restore.damaged';
  constructor(
    message: string,
    readonly damage: BackupDamage,
    readonly partial: RestoreOutcome = { files: [], refused: [] },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** The outcome to check and record: the partial restore with the damage attached. */
  outcome(): RestoreOutcome {
    return { ...this.partial, damage: this.damage };
  }
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

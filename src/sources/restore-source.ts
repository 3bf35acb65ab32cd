import type {
  BackupDamage,
  BackupSet,
  RefusedEntry,
  RestoredFile,
  RestoredLink,
  RestoredTable,
  SetItem,
  SkippedEntry,
} from '../model/restore.js';
import type { Logger } from '../log/logger.js';
import type { CheckResult } from '../model/check-result.js';
import type { ExecRecord } from '../model/exec-record.js';
import type { RestoredDatabase } from './restored-database.js';
import type { CodedError } from '../model/causes.js';

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
  /** Special files (sockets, FIFOs, devices) not restored; listed in the restore check's evidence, never a failure. */
  skipped?: SkippedEntry[];
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

import type { RestoreOutcome } from '../sources/restore-source.js';
import type { BackupSet } from '../model/restore.js';
import type { CheckResult } from '../model/check-result.js';
import type { ExecRecord } from '../model/exec-record.js';

/** What a check can look at: the set, what landed in scratch, and how long it took. */
export interface CheckContext {
  set: BackupSet;
  scratchDir: string;
  outcome: RestoreOutcome;
  /** True when only a sample of the set was restored: set-wide expectations apply to the sample. */
  sampled: boolean;
  /** The chosen item paths when only a sample was restored (null: the whole set); manifest entries outside it are not missing. */
  sample: ReadonlySet<string> | null;
  /** The manifests the drill's checks read that lie inside the set: metadata of the backup, never counted as its data. */
  manifestsInSet: ReadonlySet<string>;
  /** The run's start: the RPO check measures the set's age against it. */
  startedAt: Date;
  /** Restore plus verification so far, for the RTO check (which runs last). */
  elapsedMs: () => number;
  signal?: AbortSignal | undefined;
}

/**
 * A verification over a restore. Checks return results; they never throw for a
 * finding (kysely's migrator: results, not exceptions). A thrown error means the
 * check itself broke, and the run is recorded as `error`.
 */
export interface Check {
  readonly name: string;
  run(context: CheckContext): Promise<CheckResult[]>;
}

/**
 * A check that could not judge (a verifier that cannot start or did not finish in time):
 * the run is `error` (`check.broken`), and the commands it ran stay in the record's `commands`.
 */
export class CheckBrokenError extends Error {
  override readonly name = 'CheckBrokenError';

  constructor(
    message: string,
    readonly commands: readonly ExecRecord[] = [],
  ) {
    super(message);
  }
}

import type { ExecRecord } from '../model/exec-record.js';
import type { CheckResult } from '../model/check-result.js';
import type { Config, DrillConfig } from '../config/schema.js';
import type { EvidenceDb } from '../evidence/database.js';
import type { RunRecord, RunVerdict, SampleEvidence } from '../evidence/run-record.js';
import type { RunStart } from '../evidence/runs.js';
import type { Logger } from '../log/logger.js';
import type { CoverPlan } from '../sampling/cover.js';
import type { SpaceReservation, SpaceWatch } from '../scratch/space.js';
import type { SourceConfig } from '../sources/config-registry.js';
import type { DrillProgress, ProgressListener } from './progress.js';
import type { RestoreOutcome, RestoreSource } from '../sources/restore-source.js';
import type { BackupSet } from '../model/restore.js';
import type { SourceContext } from '../sources/source-kind.js';

/** What starts a run, and what it repeats when it is a replay. */
export interface RunDrillRequest {
  drill: DrillConfig;
  config: Config;
  /** The config file's folder; relative paths resolve from it. */
  configDir: string;
  db: EvidenceDb;
  log: Logger;
  trigger: RunRecord['trigger'];
  /** The cron slot this run fills; a slot another replica already claimed is skipped. */
  scheduledFor?: Date | null;
  /** Restore exactly the set and items of this earlier run. */
  /** `items: null` restores the whole set again (an original that restored it whole, into a database). */
  replay?: { record: RunRecord; items: string[] | null } | null;
  /** Stops the run (daemon drain); the run is recorded as `aborted`. */
  signal?: AbortSignal;
  /** How the caller takes part in the start (the daemon's lease and slot claim); absent: the start is simply recorded. */
  gate?: RunGate | undefined;
  /** Makes the source; the registry's by default (tests wrap it). */
  createSource?: (config: SourceConfig, context: SourceContext) => RestoreSource;
  now?: () => Date;
  /** Told of each phase as it starts and of the restore's progress every second (a terminal status line, logs). */
  onProgress?: ProgressListener | undefined;
}

/**
 * The caller's part in a run's start. `hold` is called with the new run id
 * before anything is recorded, and its release once the result is (the daemon
 * holds a liveness lease meanwhile); `claim` records the start instead of a plain
 * insert (the daemon's slot claim with its overlap check), false: do not run.
 */
export interface RunGate {
  hold?(runId: string): Promise<() => Promise<void>>;
  claim?(start: RunStart): Promise<boolean>;
}

/** The phases of a drill run, in the order they run; each one's time is recorded in `timings.phases`. */
export type PhaseName =
  'prepare' | 'select' | 'sample' | 'restore' | 'verify' | 'cleanup' | 'record';

/**
 * One run in progress: what the request fixed, and what each phase found so far.
 * Phases read what earlier phases left and fill in their own part.
 */
export interface DrillRun {
  readonly request: RunDrillRequest;
  readonly runId: string;
  readonly drill: DrillConfig;
  readonly log: Logger;
  readonly startedAt: Date;
  readonly scheduledFor: Date | null;
  readonly configHash: string;
  readonly host: string;
  /** Seeds every random choice of the run; a replay reuses the original's. */
  readonly seed: string;
  /** Aborts on the drill's timeout or the caller's signal. */
  readonly signal: AbortSignal | undefined;
  /** The drill's own timeout, to tell a timeout from a stop. */
  readonly timeout: AbortSignal | null;
  /** The run's fresh scratch folder; null when it could not be made (`scratchError` says why). */
  readonly scratchDir: string | null;
  readonly scratchError: unknown;
  source: RestoreSource | null;
  set: BackupSet | null;
  /** The item paths to restore; null: the whole set. */
  items: ReadonlySet<string> | null;
  /** The manifests the drill's checks read that lie inside the set (always restored, never data). */
  manifestsInSet: ReadonlySet<string>;
  sample: SampleEvidence | null;
  /** Rotating coverage: this run's slice, and every item of the set it was cut from. */
  cover: { plan: CoverPlan; items: string[] } | null;
  space: SpaceReservation | null;
  /** Free space in scratch watched while the restore writes. */
  watch: SpaceWatch | null;
  outcome: RestoreOutcome | null;
  /** Commands that ended the run without a result of their own: a source's before it threw (a `SourceError`'s), a broken check's (`CheckBrokenError`). */
  failedCommands: ExecRecord[];
  checks: CheckResult[];
  verdict: RunVerdict;
  cause: string | null;
  scratchKept: boolean;
  /** Milliseconds spent in each phase that has run. */
  phaseMs: Partial<Record<PhaseName, number>>;
}

/** One step of the pipeline: a name for its timing, and what it does to the run. */
export interface DrillPhase {
  name: PhaseName;
  run(run: DrillRun): Promise<void>;
}

/** Runs a phase, recording its time in `run.phaseMs` even when it throws. */
export async function timed(run: DrillRun, phase: DrillPhase): Promise<void> {
  const start = performance.now();
  run.request.onProgress?.(progressBase(run, phase.name));
  try {
    await phase.run(run);
  } finally {
    run.phaseMs[phase.name] = (run.phaseMs[phase.name] ?? 0) + (performance.now() - start);
  }
}

/** The part of a progress event every phase can tell. */
export function progressBase(run: DrillRun, phase: DrillProgress['phase']): DrillProgress {
  return {
    drill: run.drill.name,
    runId: run.runId,
    phase,
    startedAtMs: run.startedAt.getTime(),
  };
}

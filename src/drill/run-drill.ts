import { createHash, randomUUID } from 'node:crypto';
import os from 'node:os';
import type { DrillConfig } from '../config/schema.js';
import { redactor } from '../model/redact.js';
import { canonicalJson } from '../evidence/canonical-json.js';
import type { RunItem, RunRecord, RunVerdict } from '../evidence/run-record.js';
import { reasonOf } from '../evidence/errors.js';
import { itemsDigest } from '../evidence/items-digest.js';
import { recordRunStart, type RunStart } from '../evidence/runs.js';
import { recordResultOrSpool, spoolDirFor, type RecordedIn } from '../evidence/spool.js';
import { isStoreUnavailable, retryWhileUnavailable } from '../evidence/store-retry.js';
import { formatDuration } from '../model/duration.js';
import { coverageShare, coveredPaths } from '../sampling/coverage.js';
import { deriveSeed } from '../sampling/seeded-random.js';
import { guardConfigScratchRoot } from './scratch-guard.js';
import { createScratchDir, removeScratchDir } from '../scratch/scratch-dir.js';
import { causeCodeOfError, formatCause, type CauseCode } from '../model/causes.js';
import { isNoSpace, ScratchFullError } from '../scratch/space.js';
import { BackupDamagedError } from '../sources/restore-source.js';
import { SourceError } from '../model/restore.js';
import { RestoreCheck } from '../checks/restore-check.js';
import { ownProcessIdentity } from '../exec/process-identity.js';
import { VERSION } from '../version.js';
import {
  progressBase,
  timed,
  type DrillPhase,
  type DrillRun,
  type PhaseName,
  type RunDrillRequest,
} from './drill-run.js';
import {
  cleanupPhase,
  describeSource,
  restorePhase,
  sampleEvidence,
  samplePhase,
  settleAssurance,
  selectPhase,
  verifyPhase,
} from './phases.js';

export type { PhaseName, RunDrillRequest, RunGate } from './drill-run.js';

/** Which drill to run, why, and (for a replay) which earlier run to repeat. */
export interface DrillJobPayload {
  drill: string;
  trigger: RunRecord['trigger'];
  scheduledFor?: Date | null;
  replay?: { record: RunRecord; items: string[] | null } | null;
}

/**
 * A run's outcome: its record and where it was recorded (the store, or the spool
 * while the store is unavailable, or nowhere when the spool failed too); or
 * `slot-taken` when another replica has its scheduled slot; or `not-started`
 * when the store stayed unreachable for `database.waitFor` and the drill did not run.
 */
export type RunDrillResult =
  | { status: 'finished'; record: RunRecord; recorded: RecordedIn }
  | { status: 'slot-taken' }
  | { status: 'not-started'; drill: string; cause: string };

/**
 * The phases that judge the backup, in order. A phase that throws ends this part of
 * the run with the verdict `error`, `timed_out` or `aborted`; clean-up and the
 * record always follow. A new phase (selftest, live comparison…) is one entry here.
 */
const JUDGING_PHASES: readonly DrillPhase[] = [selectPhase, samplePhase, restorePhase, verifyPhase];

/** SHA-256 of the drill's config as resolved, secrets masked: ties the run to the config it ran under. */
export function drillConfigHash(drill: DrillConfig): string {
  return createHash('sha256')
    .update(canonicalJson(redactor.redactValue(drill)))
    .digest('hex');
}

/**
 * Runs one drill end to end: choose the set, draw the sample, restore into a
 * fresh scratch folder, run every check, clean up, and append the evidence.
 * It never throws for a drill's own failure: an unusable source, a timeout or a
 * crash in a check become the verdicts `error`, `timed_out` or `aborted`.
 */
export async function runDrill(request: RunDrillRequest): Promise<RunDrillResult> {
  const runId = randomUUID();
  const release = await request.gate?.hold?.(runId);
  try {
    return await runHeld(request, runId);
  } finally {
    await release?.();
  }
}

/** The pipeline: prepare, the judging phases, clean up, record. */
async function runHeld(request: RunDrillRequest, runId: string): Promise<RunDrillResult> {
  const prepareStart = performance.now();
  const run = await prepare(request, runId);
  if (run === null) return { status: 'slot-taken' };
  if ('notStarted' in run)
    return { status: 'not-started', drill: request.drill.name, cause: run.notStarted };
  run.phaseMs.prepare = performance.now() - prepareStart;
  const t0 = performance.now();
  let current: PhaseName = 'prepare';
  try {
    if (run.scratchError !== null || run.scratchDir === null) throw run.scratchError;
    run.log.info({ source: run.drill.source.kind }, 'drill started');
    for (const phase of JUDGING_PHASES) {
      current = phase.name;
      await timed(run, phase);
    }
  } catch (error) {
    const failure = await scratchFull(error, run);
    if (failure instanceof BackupDamagedError && !stopped(run))
      await damagedBeforeRestore(failure, run);
    else {
      if (failure instanceof SourceError) run.failedCommands = failure.commands;
      ({ verdict: run.verdict, cause: run.cause } = classifyFailure(failure, run, current));
      run.log.warn({ cause: run.cause }, 'drill could not complete');
    }
  }
  await timed(run, cleanupPhase);
  const { record, recorded } = await recordRun(run, t0);
  request.onProgress?.(progressBase(run, 'finished'));
  run.log.info({ verdict: run.verdict, cause: run.cause, recorded: recorded.in }, 'drill finished');
  return { status: 'finished', record, recorded };
}

/**
 * Guards the scratch root, makes the run's scratch folder and records the start (or
 * claims the slot). Null: the slot was not claimed, and nothing is left behind;
 * `notStarted`: the store stayed unavailable for `database.waitFor`, nothing is left either.
 * The folder is made before the start is recorded, so a crash leaves its path in evidence.
 */
async function prepare(
  request: RunDrillRequest,
  runId: string,
): Promise<DrillRun | { notStarted: string } | null> {
  const { drill, db } = request;
  const now = request.now ?? (() => new Date());
  const log = request.log.child({ drill: drill.name, runId });
  const startedAt = now();
  const scheduledFor = request.scheduledFor ?? null;
  const configHash = drillConfigHash(drill);
  const host = os.hostname();

  let scratchDir: string | null = null;
  let scratchError: unknown = null;
  try {
    // Refused before anything is made under the root: `/`, a home folder, or a folder overlapping a source.
    const root = await guardConfigScratchRoot(request.config, request.configDir);
    scratchDir = await createScratchDir(root, drill.name, runId, { now: startedAt });
  } catch (error) {
    scratchError = error;
  }

  const start: RunStart = {
    runId,
    drill: drill.name,
    trigger: request.trigger,
    scheduledFor,
    replayOf: request.replay?.record.runId ?? null,
    startedAt,
    host,
    pid: process.pid,
    ...ownProcessIdentity(),
    version: VERSION,
    configHash,
    scratchDir,
  };
  let claimed: boolean;
  try {
    // An outage of the store delays the run, up to database.waitFor, instead of skipping it.
    claimed = await retryWhileUnavailable(
      () => (request.gate?.claim ? request.gate.claim(start) : recordRunStart(db, start)),
      {
        budgetMs: request.config.database.waitFor,
        signal: request.signal,
        onRetry: (error, attempt, delayMs) =>
          log.warn(
            { attempt, delayMs, err: reasonOf(error) },
            'evidence store unavailable at the start of the run; waiting',
          ),
      },
    );
  } catch (error) {
    // Nothing was recorded: nothing will ever clean this folder on the run's behalf.
    if (scratchDir) await removeScratchDir(scratchDir).catch(() => {});
    if (request.signal?.aborted || !isStoreUnavailable(error)) throw error;
    const cause = `evidence store unavailable for ${formatDuration(request.config.database.waitFor)} at the start: ${reasonOf(error)}; the drill did not run`;
    log.error({ cause }, 'drill not run');
    return { notStarted: cause };
  }
  if (!claimed) {
    if (scratchDir) await removeScratchDir(scratchDir);
    log.info(
      { scheduledFor },
      'slot not claimed (another replica has it, or it was skipped); not running',
    );
    return null;
  }

  const timeout = drill.timeout === undefined ? null : AbortSignal.timeout(drill.timeout);
  const signals = [request.signal, timeout].filter(
    (s): s is AbortSignal => s !== undefined && s !== null,
  );
  return {
    request,
    runId,
    drill,
    log,
    startedAt,
    scheduledFor,
    configHash,
    host,
    seed:
      request.replay?.record.sample?.seed ??
      deriveSeed(drill.name, (scheduledFor ?? startedAt).toISOString()),
    signal: signals.length > 0 ? AbortSignal.any(signals) : undefined,
    timeout,
    scratchDir,
    scratchError,
    source: null,
    set: null,
    items: null,
    manifestsInSet: new Set(),
    sample: null,
    cover: null,
    space: null,
    watch: null,
    outcome: null,
    failedCommands: [],
    checks: [],
    verdict: 'passed',
    cause: null,
    scratchKept: false,
    phaseMs: {},
  };
}

/**
 * The record phase: the cycle's coverage, then the run record appended to evidence.
 * Its own time in the record covers everything before the write.
 */
async function recordRun(
  run: DrillRun,
  t0: number,
): Promise<{ record: RunRecord; recorded: RecordedIn }> {
  const recordStart = performance.now();
  const { drill, outcome, request } = run;
  const now = request.now ?? (() => new Date());
  if (run.cover !== null && run.sample !== null) {
    // Items of earlier passing runs in this cycle, plus this run's if it passed.
    try {
      const { cycleStart, periodMs } = run.cover.plan;
      const covered = await coveredPaths(request.db, drill.name, {
        start: cycleStart,
        end: new Date(cycleStart.getTime() + periodMs),
      });
      if (run.verdict === 'passed') for (const file of outcome?.files ?? []) covered.add(file.path);
      run.sample.coverage = coverageShare(run.cover.items, covered);
    } catch (error) {
      run.log.warn({ err: error }, 'could not compute the coverage of this cycle');
    }
  }

  settleAssurance(run.sample, run.verdict);

  const restoredFiles = outcome?.files ?? [];
  const runItems: RunItem[] = [
    ...restoredFiles.map((file) => ({ path: file.path, size: file.size, sha256: file.sha256 })),
    // A link's content is its target: a changed target is a changed item.
    ...(outcome?.links ?? []).map((link) => ({
      path: link.path,
      size: 0,
      sha256: null,
      linkTarget: link.target,
    })),
  ];
  const { set, phaseMs } = run;
  phaseMs.record = performance.now() - recordStart;
  const ms = (value: number | undefined): number => Math.round(value ?? 0);
  const record: RunRecord = {
    runId: run.runId,
    drill: drill.name,
    verdict: run.verdict,
    cause: run.cause === null ? null : redactor.redact(run.cause),
    trigger: request.trigger,
    scheduledFor: run.scheduledFor?.toISOString() ?? null,
    replayOf: request.replay?.record.runId ?? null,
    startedAt: run.startedAt.toISOString(),
    finishedAt: now().toISOString(),
    sourceKind: drill.source.kind,
    set: set && {
      id: set.id,
      path: set.path,
      size: set.size,
      mtime: set.mtime?.toISOString() ?? null,
      hash: set.hash,
    },
    sample:
      run.sample ??
      (outcome
        ? sampleEvidence(
            drill,
            run.seed,
            null,
            restoredFiles.map((file) => file.path),
            null,
            true,
          )
        : null),
    restored: {
      files: restoredFiles.length,
      bytes: restoredFiles.reduce((sum, file) => sum + file.size, 0),
      ...(outcome?.links ? { links: outcome.links.length } : {}),
      ...(outcome?.tables ? { tables: outcome.tables.length } : {}),
    },
    itemsDigest: outcome ? itemsDigest(runItems) : null,
    checks: redactor.redactValue(run.checks),
    timings: {
      selectMs: ms((phaseMs.select ?? 0) + (phaseMs.sample ?? 0)),
      restoreMs: ms(phaseMs.restore),
      verifyMs: ms(phaseMs.verify),
      cleanupMs: ms(phaseMs.cleanup),
      totalMs: Math.round(performance.now() - t0),
      phases: Object.fromEntries(
        Object.entries(phaseMs).map(([name, value]) => [name, Math.round(value)]),
      ),
    },
    commands: [...(outcome?.commands ?? []), ...run.failedCommands],
    targets: { rtoMs: drill.targets?.rto ?? null, rpoMs: drill.targets?.rpo ?? null },
    host: run.host,
    version: VERSION,
    configHash: run.configHash,
    scratchDir: run.scratchDir,
    scratchKept: run.scratchKept,
  };
  const recorded = await recordResultOrSpool({
    db: request.db,
    record,
    items: runItems,
    spoolDir: spoolDirFor(request.config, request.configDir),
    log: run.log,
  });
  return { record, recorded };
}

/** The drill's timeout or the caller stopped the run: that, not what followed, is the verdict. */
function stopped(run: DrillRun): boolean {
  return run.timeout?.aborted === true || run.request.signal?.aborted === true;
}

/**
 * Scratch filled up: the watch stopped the restore under the floor, or a write met ENOSPC
 * (in this thread, a worker, a stream): the `scratch full` error, measured now.
 */
async function scratchFull(error: unknown, run: DrillRun): Promise<unknown> {
  const { watch } = run;
  if (stopped(run) || watch === null || error instanceof ScratchFullError) return error;
  if (watch.signal.aborted) return watch.signal.reason;
  if (isNoSpace(error))
    return watch.full(`a write failed: ${firstLine(errorMessage(error))}`, error);
  return error;
}

/** Damage found before the restore (listing a sample's items): still `failed`, named by the restore check. */
async function damagedBeforeRestore(failure: BackupDamagedError, run: DrillRun): Promise<void> {
  run.outcome = failure.outcome();
  const [damaged] = await new RestoreCheck().run({
    // Damage met while listing (a repository that lists no set intact) names the source.
    set: run.set ?? {
      id: '',
      path: describeSource(run.drill),
      size: null,
      mtime: null,
      hash: null,
    },
    scratchDir: run.scratchDir ?? '',
    outcome: run.outcome,
    sampled: false,
    sample: null,
    manifestsInSet: run.manifestsInSet,
    startedAt: run.startedAt,
    elapsedMs: () => 0,
  });
  if (damaged) run.checks.push(damaged);
  run.verdict = 'failed';
  run.cause = formatCause('restore.damaged', `restore: ${damaged?.detail ?? failure.message}`);
  run.log.warn({ damage: failure.damage }, 'backup damaged');
}

/** What an error without a code of its own most likely is, by the phase it ended. */
const UNCODED_BY_PHASE: Partial<Record<PhaseName, CauseCode>> = {
  select: 'source.failed',
  sample: 'source.failed',
  restore: 'source.failed',
  verify: 'check.broken',
};

/** The verdict and coded cause of a run whose judging phases stopped with `error`. */
function classifyFailure(
  error: unknown,
  run: DrillRun,
  phase: PhaseName,
): { verdict: RunVerdict; cause: string } {
  const external = run.request.signal;
  if (run.timeout?.aborted)
    return {
      verdict: 'timed_out',
      cause: formatCause('timeout', `drill exceeded its timeout of ${run.drill.timeout} ms`),
    };
  if (external?.aborted) {
    const reason =
      external.reason instanceof Error
        ? external.reason.message
        : String(external.reason ?? 'stopped');
    return {
      verdict: 'aborted',
      cause: formatCause('aborted', `stopped before it finished: ${reason}`),
    };
  }
  const code = causeCodeOfError(error) ?? UNCODED_BY_PHASE[phase] ?? 'internal';
  return { verdict: 'error', cause: formatCause(code, firstLine(errorMessage(error))) };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function firstLine(text: string): string {
  return text.split('\n')[0]?.trim() ?? text;
}

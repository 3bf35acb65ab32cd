import { buildPhasedChecks, checkManifests, checkNeeds } from '../checks/registry.js';
import { CheckBrokenError, type Check, type CheckContext } from '../checks/check.js';
import type { CheckResult } from '../model/check-result.js';
import { plural } from '../model/describe.js';
import type { Config, DrillConfig } from '../config/schema.js';
import { formatBytes } from '../model/primitives.js';
import { manifestPathsInSet } from '../checks/manifest-check.js';
import { redactor } from '../model/redact.js';
import type { Assurance, RunRecord, SampleEvidence } from '../evidence/run-record.js';
import { lastPassingRun } from '../evidence/runs.js';
import type { Logger } from '../log/logger.js';
import { formatCause, type CauseCode, type CodedError } from '../model/causes.js';
import { coverSlice, planCover } from '../sampling/cover.js';
import { achievedConfidence, confidenceSampleSize } from '../sampling/confidence.js';
import { drawConfidenceSample, drawSample, topUp } from '../sampling/sample.js';
import { percentFraction, type SampleConfig } from '../sampling/sample-config.js';
import { seededRandom } from '../sampling/seeded-random.js';
import { removeScratchDir } from '../scratch/scratch-dir.js';
import {
  NO_SPACE,
  reserveScratchSpace,
  scratchFloor,
  watchScratchSpace,
  type SpaceReservation,
} from '../scratch/space.js';
import { createSource } from '../sources/registry.js';
import {
  BackupDamagedError,
  type RestoreOutcome,
  type RestoreSource,
} from '../sources/restore-source.js';
import { selectSet } from '../sources/set-selection.js';
import { progressBase, type DrillPhase, type DrillRun } from './drill-run.js';
import { startRestoreMeter } from './progress.js';

/** Evidence capped in the record itself; `run_items` keeps every item. */
const MAX_SAMPLE_ITEMS_IN_RECORD = 1_000;

/** Makes the source, lists its sets and chooses one (the replayed run's set for a replay). */
export const selectPhase: DrillPhase = {
  name: 'select',
  async run(run) {
    const { drill, request } = run;
    const source = (request.createSource ?? createSource)(drill.source, {
      configDir: request.configDir,
      log: run.log,
      evidence: request.db,
    });
    run.source = source;
    const sets = await source.listSets({ signal: run.signal });
    const choice = {
      now: run.startedAt,
      random: seededRandom(run.seed),
      describe: describeSource(drill),
    };
    run.set = request.replay
      ? selectSet(sets, { id: request.replay.record.set?.id ?? '' }, choice)
      : selectSet(sets, drill.source.select, choice);
  },
};

/**
 * Chooses the items to restore: the replayed run's, a rotating-coverage slice, a
 * seeded sample, or (null) the whole set. Every manifest inside the set always goes along.
 */
export const samplePhase: DrillPhase = {
  name: 'sample',
  async run(run) {
    const { drill, request, seed, signal } = run;
    const source = mustHave(run.source, 'source');
    const set = mustHave(run.set, 'set');
    const manifestsInSet = manifestPathsInSet(checkManifests(drill.checks, drill.targets), set);
    run.manifestsInSet = manifestsInSet;
    let items: ReadonlySet<string> | null = null;
    if (request.replay) {
      items = request.replay.items === null ? null : new Set(request.replay.items);
      if (items !== null) run.sample = sampleEvidence(drill, seed, null, [...items], null);
    } else if (drill.sample?.cover !== undefined) {
      const listed = (await source.listItems(set, { signal })).filter(
        (item) => !manifestsInSet.has(item.path),
      );
      const plan = planCover(
        { cover: drill.sample.cover, slices: drill.sample.slices },
        drill.schedule,
        run.scheduledFor ?? run.startedAt,
      );
      const target = confidenceTarget(drill.sample);
      const required = target ? confidenceSampleSize(target, listed.length) : 0;
      // A slice smaller than n is topped up from the rest of the set: coverage and confidence both hold.
      const chosen = topUp(coverSlice(listed, plan), listed, required, seed);
      run.cover = { plan, items: listed.map((item) => item.path) };
      items = new Set(chosen.map((item) => item.path));
      const bytes = chosen.reduce((sum, item) => sum + item.size, 0);
      // The spec says which slice of which cycle, so an auditor can re-derive the choice.
      const spec = {
        ...drill.sample,
        slices: plan.slices,
        slice: plan.slice,
        cycleStart: plan.cycleStart.toISOString(),
      };
      run.sample = { ...sampleEvidence(drill, seed, listed.length, [...items], bytes), spec };
      if (target)
        run.sample.assurance = assurance(
          target,
          listed.length,
          required,
          chosen.length,
          chosen.length,
        );
    } else if (drill.sample?.confidence !== undefined) {
      const target = confidenceTarget(drill.sample) as { confidence: number; tolerance: number };
      const listed = await source.listItems(set, { signal });
      const candidates = listed.filter((item) => !manifestsInSet.has(item.path));
      const chosen = drawConfidenceSample(candidates, target, drill.sample.stratify, seed);
      items = new Set(chosen.items.map((item) => item.path));
      run.sample = {
        ...sampleEvidence(drill, seed, candidates.length, [...items], chosen.bytes),
        assurance: assurance(
          target,
          candidates.length,
          chosen.required,
          chosen.items.length,
          chosen.effective,
        ),
      };
    } else if (drill.sample && drill.sample.size !== 'all') {
      const listed = await source.listItems(set, { signal });
      const candidates = listed.filter((item) => !manifestsInSet.has(item.path));
      const chosen = drawSample(candidates, drill.sample, seed);
      items = new Set(chosen.items.map((item) => item.path));
      run.sample = sampleEvidence(drill, seed, candidates.length, [...items], chosen.bytes);
    }
    if (items && manifestsInSet.size > 0) items = new Set([...items, ...manifestsInSet]);
    run.items = items;
  },
};

/** `sample.confidence` and `tolerance` as fractions; null when the sample is not sized by them. */
function confidenceTarget(sample: SampleConfig): { confidence: number; tolerance: number } | null {
  if (sample.confidence === undefined || sample.tolerance === undefined) return null;
  return {
    confidence: percentFraction(sample.confidence),
    tolerance: percentFraction(sample.tolerance),
  };
}

/** The statement a draw makes; `achieved` is settled with the verdict (see settleAssurance). */
function assurance(
  target: { confidence: number; tolerance: number },
  population: number,
  required: number,
  drawn: number,
  effective: number,
): Assurance {
  const planned = achievedConfidence(target.tolerance, population, effective);
  return { ...target, population, required, drawn, planned, achieved: null };
}

/**
 * The confidence a run earned: the planned one when every sampled item restored and
 * verified (it passed), none when it failed (a failure voids the statement), and
 * null when the run could not judge the sample.
 */
export function settleAssurance(sample: SampleEvidence | null, verdict: DrillRun['verdict']): void {
  const stated = sample?.assurance;
  if (!stated) return;
  stated.achieved = verdict === 'passed' ? stated.planned : verdict === 'failed' ? 0 : null;
}

/** Reserves room in scratch for what is expected, then restores the chosen items into it. */
export const restorePhase: DrillPhase = {
  name: 'restore',
  async run(run) {
    const { request, items, sample } = run;
    const source: RestoreSource = mustHave(run.source, 'source');
    const set = mustHave(run.set, 'set');
    const scratchDir = mustHave(run.scratchDir, 'scratch folder');
    const expectedBytes = request.replay
      ? null
      : (sample?.selectedBytes ??
        (items === null
          ? ((await source.restoredSize?.(set, { signal: run.signal })) ?? set.size)
          : null));
    const floorBytes = await scratchFloor(scratchDir, request.config.scratch.minFree);
    run.space = await reserveSpace(scratchDir, expectedBytes, floorBytes, request.config, run.log);
    const watch = await watchScratchSpace(scratchDir, { floorBytes, expectedBytes });
    run.watch = watch;
    const signal = AbortSignal.any(run.signal ? [run.signal, watch.signal] : [watch.signal]);
    run.log.info({ set: set.path, items: items?.size ?? 'all' }, 'restoring');
    const listener = request.onProgress;
    const meter = listener
      ? await startRestoreMeter(
          scratchDir,
          {
            ...progressBase(run, 'restore'),
            totalBytes: expectedBytes,
            totalItems: items?.size ?? null,
          },
          listener,
        )
      : null;
    try {
      run.outcome = await source.restore(set, scratchDir, { items, signal, log: run.log });
    } catch (error) {
      // A damaged backup is a finding: what was restored before the damage is kept and checked.
      if (!(error instanceof BackupDamagedError) || signal.aborted) throw error;
      run.outcome = error.outcome();
      run.log.warn({ damage: error.damage }, 'backup damaged');
    } finally {
      meter?.stop();
      watch.stop();
    }
    // A tool that met a full disk says so in its output, whatever its exit code means to it.
    const noSpace = run.outcome.commands?.find(
      (command) => command.exitCode !== 0 && NO_SPACE.test(command.stderrTail),
    );
    if (noSpace) throw await watch.full(`${noSpace.command}: ${lastLine(noSpace.stderrTail)}`);
  },
};

/**
 * Runs the drill's checks phase by phase: restore checks, the checks the source
 * reported (restic check…), data checks, then the targets (RTO last, seeing the rest).
 * The first failed check fails the run and is its cause. A check that breaks is kept as a
 * warning saying why; the run is then `error` (check.broken) only when no other check failed.
 */
export const verifyPhase: DrillPhase = {
  name: 'verify',
  async run(run) {
    const { drill, signal } = run;
    const outcome = mustHave(run.outcome, 'restore outcome');
    const verifyStart = performance.now();
    const restoreMs = run.phaseMs.restore ?? 0;
    const context: CheckContext = {
      set: mustHave(run.set, 'set'),
      scratchDir: mustHave(run.scratchDir, 'scratch folder'),
      outcome,
      sampled: run.items !== null,
      sample: run.items,
      manifestsInSet: run.manifestsInSet,
      startedAt: run.startedAt,
      elapsedMs: () => restoreMs + (performance.now() - verifyStart),
      signal,
    };
    const needs = checkNeeds(drill.checks, drill.targets);
    const lastPass = needs.has('lastPass') ? await lastPassOf(run) : undefined;
    const phased = buildPhasedChecks(drill.checks, drill.targets, { lastPass });
    // A check that breaks judged nothing; the others still judge, and one that fails is the verdict.
    let broken: CodedFailure | null = null;
    const judge = async (check: Check): Promise<void> => {
      try {
        run.checks.push(...(await runCheck(check, context, run)));
      } catch (error) {
        if (!(error instanceof CodedFailure) || error.causeCode !== 'check.broken') throw error;
        broken ??= error;
        run.checks.push(couldNotJudge(check, error));
      }
    };
    for (const check of phased.restore) await judge(check);
    run.checks.push(...(outcome.checks ?? []));
    // After damage, the restore check has named it; the others would only list its consequences.
    for (const check of outcome.damage ? [] : [...phased.data, ...phased.targets]) {
      signal?.throwIfAborted();
      await judge(check);
    }
    if (broken !== null && !run.checks.some((check) => check.verdict === 'failed')) throw broken;
    const unverified = nothingVerified(outcome, drill, phased.data.length > 0);
    if (unverified && !run.checks.some((check) => check.verdict === 'failed'))
      run.checks.push(unverified);
    const failed = run.checks.find((check) => check.verdict === 'failed');
    if (failed === unverified && unverified) {
      run.verdict = 'failed';
      run.cause = formatCause('verify.nothing-verified', unverified.detail);
    } else if (failed) {
      run.verdict = 'failed';
      // Damage is the backup's fault, found by the restore check: its own code, so alerts can tell it apart.
      run.cause = formatCause(
        outcome.damage ? 'restore.damaged' : 'check.failed',
        `${failed.name}: ${failed.detail}`,
      );
    }
  },
};

/**
 * A restore that proves nothing is a failed result: one that brought nothing back (no file,
 * link or table) while no data check says what the set should hold, or one that brought
 * items but verified none of them against anything the store recorded, with no manifest.
 */
function nothingVerified(
  outcome: RestoreOutcome,
  drill: DrillConfig,
  hasDataChecks: boolean,
): CheckResult | null {
  const restored =
    outcome.files.length + (outcome.links?.length ?? 0) + (outcome.tables?.length ?? 0);
  if (restored === 0 && !hasDataChecks)
    return {
      name: 'verification',
      verdict: 'failed',
      expected: { restored: 'at least one file, link or table, or a check that expects none' },
      actual: { files: 0, links: 0, tables: 0 },
      detail:
        'nothing could be verified: the restore brought back no file, link or table, and no check says the set should be empty',
    };
  const verification = outcome.verification;
  if (!verification || verification.items === 0 || verification.verified > 0) return null;
  if (drill.checks.manifest) return null;
  return {
    name: 'verification',
    verdict: 'failed',
    expected: { verified: 'at least one item, or a manifest' },
    actual: { items: verification.items, verified: 0, manifest: false },
    detail: `nothing could be verified: none of ${plural(verification.items, 'restored item')} matched a value the store recorded (ETag or checksum) and no manifest is configured`,
  };
}

/**
 * A check that throws broke (it did not judge): `check.broken`, naming it, unless the run
 * was stopped. The commands it ran are kept in the record, as a failed source's are.
 */
async function runCheck(
  check: Check,
  context: CheckContext,
  run: DrillRun,
): Promise<CheckResult[]> {
  try {
    return await check.run(context);
  } catch (error) {
    context.signal?.throwIfAborted();
    if (error instanceof CheckBrokenError) run.failedCommands.push(...error.commands);
    const message = error instanceof Error ? error.message : String(error);
    throw new CodedFailure('check.broken', `${check.name}: ${message}`, error);
  }
}

/** A broken check's place in the record: a warning (it judged nothing), saying why. */
function couldNotJudge(check: Check, failure: CodedFailure): CheckResult {
  const why = failure.cause instanceof Error ? failure.cause.message : String(failure.cause);
  return {
    name: check.name,
    verdict: 'warning',
    expected: null,
    actual: null,
    detail: `could not judge: ${why.split('\n')[0]?.trim() ?? why}`,
  };
}

/** The drill's last passing run; the evidence store failing here is `store.unreachable`. */
async function lastPassOf(run: DrillRun): Promise<RunRecord | undefined> {
  try {
    return await lastPassingRun(run.request.db, run.drill.name);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new CodedFailure(
      'store.unreachable',
      `cannot read the last passing run of ${run.drill.name}: ${message}`,
      error,
    );
  }
}

/** An error that ends the run with the given cause code. */
class CodedFailure extends Error implements CodedError {
  constructor(
    readonly causeCode: CauseCode,
    message: string,
    cause: unknown,
  ) {
    super(message, { cause });
  }
}

/** Releases the reservation and the restore's resources, and removes scratch unless it is kept. */
export const cleanupPhase: DrillPhase = {
  name: 'cleanup',
  async run(run) {
    const { log, scratchDir } = run;
    run.watch?.stop();
    run.space?.release();
    await run.outcome
      ?.dispose?.()
      .catch((error: unknown) => log.warn({ err: error }, 'could not release restore resources'));
    run.scratchKept =
      scratchDir !== null && shouldKeep(run.request.config.scratch.keep, run.verdict);
    if (scratchDir && !run.scratchKept)
      await removeScratchDir(scratchDir).catch((error: unknown) =>
        log.warn({ err: error, scratchDir }, 'could not remove scratch folder'),
      );
  },
};

/** A phase ran before the one that provides what it needs: a bug in the pipeline's order. */
function mustHave<T>(value: T | null, what: string): T {
  if (value === null) throw new Error(`internal: no ${what} at this phase of the drill`);
  return value;
}

/**
 * Reserves free space in scratch for the restore: the expected size times
 * `daemon.scratchMargin`, plus the floor. An unknown size (a folder set, a replay) is not checked.
 */
async function reserveSpace(
  scratchDir: string,
  expectedBytes: number | null,
  floorBytes: number,
  config: Config,
  log: Logger,
): Promise<SpaceReservation | null> {
  const margin = config.daemon?.scratchMargin ?? 1.5;
  if (expectedBytes === null) {
    log.info({ scratchDir }, 'expected restore size unknown; free space in scratch not checked');
    return null;
  }
  const reservation = await reserveScratchSpace(scratchDir, expectedBytes, margin, floorBytes);
  log.debug(
    { needed: formatBytes(reservation.needed), available: formatBytes(reservation.available) },
    'free space in scratch checked',
  );
  return reservation;
}

function shouldKeep(keep: Config['scratch']['keep'], verdict: DrillRun['verdict']): boolean {
  return keep === 'always' || (keep === 'on-failure' && verdict !== 'passed');
}

/** The source as one line naming where it reads (password-free), for causes met before a set is chosen. */
export function describeSource(drill: DrillConfig): string {
  const source = drill.source as {
    kind: string;
    path?: string;
    bucket?: string;
    prefix?: string;
    repository?: string;
  };
  const where =
    source.path ??
    (source.bucket ? `s3://${source.bucket}/${source.prefix ?? ''}` : (source.repository ?? ''));
  return redactor.redact(`${source.kind} source ${where}`.trim());
}

/** The sample as evidence; `whole`: the whole set was restored, listed only by restoring it. */
export function sampleEvidence(
  drill: DrillConfig,
  seed: string,
  total: number | null,
  items: string[],
  bytes: number | null,
  whole = false,
): SampleEvidence {
  return {
    spec: whole ? 'all' : (drill.sample ?? 'all'),
    seed,
    totalItems: whole ? items.length : total,
    selectedItems: items.length,
    selectedBytes: bytes,
    items: items.slice(0, MAX_SAMPLE_ITEMS_IN_RECORD),
  };
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop()?.trim() ?? '';
}

import { createHash, randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { buildChecks } from '../checks/index.js';
import type { CheckContext, CheckResult } from '../checks/check.js';
import type { Config, DrillConfig } from '../config/schema.js';
import { redactor } from '../config/redact.js';
import { canonicalJson } from '../evidence/canonical-json.js';
import type { EvidenceDb } from '../evidence/database.js';
import { reasonOf } from '../evidence/errors.js';
import type { RunItem, RunRecord, RunVerdict, SampleEvidence } from '../evidence/run-record.js';
import { lastPassingRun, recordRunStart, type RunStart } from '../evidence/runs.js';
import { recordResultOrSpool, spoolDirFor, type RecordedIn } from '../evidence/spool.js';
import { isStoreUnavailable, retryWhileUnavailable } from '../evidence/store-retry.js';
import type { Logger } from '../log/logger.js';
import { coverSlice, planCover, type CoverPlan } from '../sampling/cover.js';
import { coverageShare, coveredPaths } from '../sampling/coverage.js';
import { drawSample } from '../sampling/sample.js';
import { deriveSeed, seededRandom } from '../sampling/seeded-random.js';
import { guardConfigScratchRoot } from '../scratch/guard.js';
import { createScratchDir, removeScratchDir } from '../scratch/scratch-dir.js';
import { formatSize, reserveScratchSpace, type SpaceReservation } from '../scratch/space.js';
import { createSource, type SourceConfig } from '../sources/registry.js';
import {
  SourceError,
  type BackupSet,
  type RestoreOutcome,
  type RestoreSource,
} from '../sources/restore-source.js';
import type { SourceContext } from '../sources/source-kind.js';
import { selectSet } from '../sources/set-selection.js';
import { VERSION } from '../version.js';
import { formatDuration } from '../config/duration.js';

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

/** Evidence capped in the record itself; `run_items` keeps every item. */
const MAX_SAMPLE_ITEMS_IN_RECORD = 1_000;

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

async function runHeld(request: RunDrillRequest, runId: string): Promise<RunDrillResult> {
  const { drill, log: parentLog, db } = request;
  const now = request.now ?? (() => new Date());
  const log = parentLog.child({ drill: drill.name, runId });
  const startedAt = now();
  const scheduledFor = request.scheduledFor ?? null;
  const configHash = drillConfigHash(drill);
  const host = os.hostname();

  // The scratch folder is made before the start is recorded, so a crash leaves its path in evidence for clean-up.
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
    return { status: 'not-started', drill: drill.name, cause };
  }
  if (!claimed) {
    if (scratchDir) await removeScratchDir(scratchDir);
    log.info(
      { scheduledFor },
      'slot not claimed (another replica has it, or it was skipped); not running',
    );
    return { status: 'slot-taken' };
  }

  const timeout = drill.timeout === undefined ? null : AbortSignal.timeout(drill.timeout);
  const signals = [request.signal, timeout].filter(
    (s): s is AbortSignal => s !== undefined && s !== null,
  );
  const signal = signals.length > 0 ? AbortSignal.any(signals) : undefined;
  const phase = { selectMs: 0, restoreMs: 0, verifyMs: 0, cleanupMs: 0 };
  const t0 = performance.now();
  const seed =
    request.replay?.record.sample?.seed ??
    deriveSeed(drill.name, (scheduledFor ?? startedAt).toISOString());

  let set: BackupSet | null = null;
  let sample: SampleEvidence | null = null;
  /** Rotating coverage: this run's slice, and every item of the set it was cut from. */
  let cover: { plan: CoverPlan; items: string[] } | null = null;
  let outcome: RestoreOutcome | null = null;
  const checks: CheckResult[] = [];
  let verdict: RunVerdict = 'passed';
  let cause: string | null = null;
  let space: SpaceReservation | null = null;

  try {
    if (scratchError !== null || scratchDir === null) throw scratchError;
    log.info({ source: drill.source.kind }, 'drill started');
    const source = (request.createSource ?? createSource)(drill.source, {
      configDir: request.configDir,
      log,
    });
    const sets = await source.listSets({ signal });
    set = request.replay
      ? selectSet(
          sets,
          { id: request.replay.record.set?.id ?? '' },
          { now: startedAt, random: seededRandom(seed), describe: describeSource(drill) },
        )
      : selectSet(sets, drill.source.select, {
          now: startedAt,
          random: seededRandom(seed),
          describe: describeSource(drill),
        });
    const manifestInSet = manifestPathInSet(drill);
    let items: ReadonlySet<string> | null = null;
    if (request.replay) {
      items = request.replay.items === null ? null : new Set(request.replay.items);
      if (items !== null) sample = sampleEvidence(drill, seed, null, [...items], null);
    } else if (drill.sample?.cover !== undefined) {
      const listed = (await source.listItems(set, { signal })).filter(
        (item) => item.path !== manifestInSet,
      );
      const plan = planCover(
        { cover: drill.sample.cover, slices: drill.sample.slices },
        drill.schedule,
        scheduledFor ?? startedAt,
      );
      const chosen = coverSlice(listed, plan);
      cover = { plan, items: listed.map((item) => item.path) };
      items = new Set(chosen.map((item) => item.path));
      const bytes = chosen.reduce((sum, item) => sum + item.size, 0);
      // The spec says which slice of which cycle, so an auditor can re-derive the choice.
      const spec = {
        ...drill.sample,
        slices: plan.slices,
        slice: plan.slice,
        cycleStart: plan.cycleStart.toISOString(),
      };
      sample = { ...sampleEvidence(drill, seed, listed.length, [...items], bytes), spec };
    } else if (drill.sample && drill.sample.size !== 'all') {
      const listed = await source.listItems(set, { signal });
      const candidates = listed.filter((item) => item.path !== manifestInSet);
      const chosen = drawSample(candidates, drill.sample, seed);
      items = new Set(chosen.items.map((item) => item.path));
      sample = sampleEvidence(drill, seed, candidates.length, [...items], chosen.bytes);
    }
    if (items && manifestInSet) items = new Set([...items, manifestInSet]);
    phase.selectMs = performance.now() - t0;
    space = await reserveSpace(
      scratchDir,
      request.replay ? null : (sample?.selectedBytes ?? (items === null ? set.size : null)),
      request.config,
      log,
    );
    log.info({ set: set.path, items: items?.size ?? 'all' }, 'restoring');

    const restoreStart = performance.now();
    outcome = await source.restore(set, scratchDir, { items, signal, log });
    phase.restoreMs = performance.now() - restoreStart;

    const verifyStart = performance.now();
    const context: CheckContext = {
      set,
      scratchDir,
      outcome,
      sampled: items !== null,
      sample: items,
      startedAt,
      elapsedMs: () => phase.restoreMs + (performance.now() - verifyStart),
      signal,
    };
    // Expected row counts may come from the drill's last passing run.
    const lastPass =
      drill.checks.tables?.from === 'last-pass' ? await lastPassingRun(db, drill.name) : undefined;
    const drillChecks = buildChecks(drill.checks, drill.targets, { lastPass });
    const [restoreCheck, ...rest] = drillChecks;
    if (restoreCheck) checks.push(...(await restoreCheck.run(context)));
    checks.push(...(outcome.checks ?? []));
    for (const check of rest) {
      signal?.throwIfAborted();
      checks.push(...(await check.run(context)));
    }
    phase.verifyMs = performance.now() - verifyStart;
    const failed = checks.find((check) => check.verdict === 'failed');
    if (failed) {
      verdict = 'failed';
      cause = `${failed.name}: ${failed.detail}`;
    }
  } catch (error) {
    ({ verdict, cause } = classifyFailure(error, timeout, request.signal, drill));
    log.warn({ cause }, 'drill could not complete');
  }

  space?.release();
  const cleanupStart = performance.now();
  await outcome
    ?.dispose?.()
    .catch((error: unknown) => log.warn({ err: error }, 'could not release restore resources'));
  const keep = scratchDir !== null && shouldKeep(request.config.scratch.keep, verdict);
  if (scratchDir && !keep)
    await removeScratchDir(scratchDir).catch((error: unknown) =>
      log.warn({ err: error, scratchDir }, 'could not remove scratch folder'),
    );
  phase.cleanupMs = performance.now() - cleanupStart;

  if (cover !== null && sample !== null) {
    // Items of earlier passing runs in this cycle, plus this run's if it passed.
    try {
      const { cycleStart, periodMs } = cover.plan;
      const covered = await coveredPaths(db, drill.name, {
        start: cycleStart,
        end: new Date(cycleStart.getTime() + periodMs),
      });
      if (verdict === 'passed') for (const file of outcome?.files ?? []) covered.add(file.path);
      sample.coverage = coverageShare(cover.items, covered);
    } catch (error) {
      log.warn({ err: error }, 'could not compute the coverage of this cycle');
    }
  }

  const restoredFiles = outcome?.files ?? [];
  const record: RunRecord = {
    runId,
    drill: drill.name,
    verdict,
    cause: cause === null ? null : redactor.redact(cause),
    trigger: request.trigger,
    scheduledFor: scheduledFor?.toISOString() ?? null,
    replayOf: request.replay?.record.runId ?? null,
    startedAt: startedAt.toISOString(),
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
      sample ??
      (outcome
        ? sampleEvidence(
            drill,
            seed,
            null,
            restoredFiles.map((file) => file.path),
            null,
            true,
          )
        : null),
    restored: {
      files: restoredFiles.length,
      bytes: restoredFiles.reduce((sum, file) => sum + file.size, 0),
      ...(outcome?.tables ? { tables: outcome.tables.length } : {}),
    },
    itemsDigest: outcome ? itemsDigest(restoredFiles) : null,
    checks: redactor.redactValue(checks),
    timings: {
      selectMs: Math.round(phase.selectMs),
      restoreMs: Math.round(phase.restoreMs),
      verifyMs: Math.round(phase.verifyMs),
      cleanupMs: Math.round(phase.cleanupMs),
      totalMs: Math.round(performance.now() - t0),
    },
    commands: outcome?.commands ?? [],
    targets: { rtoMs: drill.targets?.rto ?? null, rpoMs: drill.targets?.rpo ?? null },
    host,
    version: VERSION,
    configHash,
    scratchDir,
    scratchKept: keep,
  };
  const runItems: RunItem[] = restoredFiles.map((file) => ({
    path: file.path,
    size: file.size,
    sha256: file.sha256,
  }));
  const recorded = await recordResultOrSpool({
    db,
    record,
    items: runItems,
    spoolDir: spoolDirFor(request.config, request.configDir),
    log,
  });
  log.info({ verdict, cause, recorded: recorded.in }, 'drill finished');
  return { status: 'finished', record, recorded };
}

/**
 * Reserves free space in scratch for the restore: the expected size times
 * `daemon.scratchMargin`. An unknown size (a folder set, a replay) is not checked.
 */
async function reserveSpace(
  scratchDir: string,
  expectedBytes: number | null,
  config: Config,
  log: Logger,
): Promise<SpaceReservation | null> {
  const margin = config.daemon?.scratchMargin ?? 1.5;
  if (expectedBytes === null) {
    log.info({ scratchDir }, 'expected restore size unknown; free space in scratch not checked');
    return null;
  }
  const reservation = await reserveScratchSpace(scratchDir, expectedBytes, margin);
  log.debug(
    { needed: formatSize(reservation.needed), available: formatSize(reservation.available) },
    'free space in scratch checked',
  );
  return reservation;
}

function classifyFailure(
  error: unknown,
  timeout: AbortSignal | null,
  external: AbortSignal | undefined,
  drill: DrillConfig,
): { verdict: RunVerdict; cause: string } {
  if (timeout?.aborted)
    return { verdict: 'timed_out', cause: `drill exceeded its timeout of ${drill.timeout} ms` };
  if (external?.aborted) {
    const reason =
      external.reason instanceof Error
        ? external.reason.message
        : String(external.reason ?? 'stopped');
    return { verdict: 'aborted', cause: `stopped before it finished: ${reason}` };
  }
  if (error instanceof SourceError) return { verdict: 'error', cause: error.message };
  const message = error instanceof Error ? error.message : String(error);
  return { verdict: 'error', cause: firstLine(message) };
}

function firstLine(text: string): string {
  return text.split('\n')[0]?.trim() ?? text;
}

function shouldKeep(keep: Config['scratch']['keep'], verdict: RunVerdict): boolean {
  return keep === 'always' || (keep === 'on-failure' && verdict !== 'passed');
}

function describeSource(drill: DrillConfig): string {
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

/** The manifest's path inside the set, when the manifest travels with the set. */
function manifestPathInSet(drill: DrillConfig): string | null {
  const manifest = drill.checks.manifest;
  if (!manifest || manifest.path.startsWith('/') || manifest.path.includes('{set}')) return null;
  return manifest.path.replace(/^\.\//, '');
}

function sampleEvidence(
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

/** Fixes the exact list of restored items into the record. */
export function itemsDigest(
  files: readonly { path: string; size: number; sha256: string | null }[],
): string {
  const hash = createHash('sha256');
  const lines = files.map((file) => `${file.path}\t${file.size}\t${file.sha256 ?? ''}`).sort();
  for (const line of lines) hash.update(`${line}\n`);
  return hash.digest('hex');
}

export function resolvePath(base: string, target: string): string {
  return path.resolve(base, target);
}

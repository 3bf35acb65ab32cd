import { buildPhasedChecks, checkNeeds } from '../checks/registry.js';
import type { CheckContext } from '../checks/check.js';
import type { Config, DrillConfig } from '../config/schema.js';
import { redactor } from '../config/redact.js';
import type { SampleEvidence } from '../evidence/run-record.js';
import { lastPassingRun } from '../evidence/runs.js';
import type { Logger } from '../log/logger.js';
import { coverSlice, planCover } from '../sampling/cover.js';
import { drawSample } from '../sampling/sample.js';
import { seededRandom } from '../sampling/seeded-random.js';
import { removeScratchDir } from '../scratch/scratch-dir.js';
import { formatSize, reserveScratchSpace, type SpaceReservation } from '../scratch/space.js';
import { createSource } from '../sources/registry.js';
import type { RestoreSource } from '../sources/restore-source.js';
import { selectSet } from '../sources/set-selection.js';
import type { DrillPhase, DrillRun } from './drill-run.js';

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
 * seeded sample, or (null) the whole set. A manifest inside the set always goes along.
 */
export const samplePhase: DrillPhase = {
  name: 'sample',
  async run(run) {
    const { drill, request, seed, signal } = run;
    const source = mustHave(run.source, 'source');
    const set = mustHave(run.set, 'set');
    const manifestInSet = manifestPathInSet(drill);
    let items: ReadonlySet<string> | null = null;
    if (request.replay) {
      items = request.replay.items === null ? null : new Set(request.replay.items);
      if (items !== null) run.sample = sampleEvidence(drill, seed, null, [...items], null);
    } else if (drill.sample?.cover !== undefined) {
      const listed = (await source.listItems(set, { signal })).filter(
        (item) => item.path !== manifestInSet,
      );
      const plan = planCover(
        { cover: drill.sample.cover, slices: drill.sample.slices },
        drill.schedule,
        run.scheduledFor ?? run.startedAt,
      );
      const chosen = coverSlice(listed, plan);
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
    } else if (drill.sample && drill.sample.size !== 'all') {
      const listed = await source.listItems(set, { signal });
      const candidates = listed.filter((item) => item.path !== manifestInSet);
      const chosen = drawSample(candidates, drill.sample, seed);
      items = new Set(chosen.items.map((item) => item.path));
      run.sample = sampleEvidence(drill, seed, candidates.length, [...items], chosen.bytes);
    }
    if (items && manifestInSet) items = new Set([...items, manifestInSet]);
    run.items = items;
  },
};

/** Reserves room in scratch for what is expected, then restores the chosen items into it. */
export const restorePhase: DrillPhase = {
  name: 'restore',
  async run(run) {
    const { request, items, sample } = run;
    const source: RestoreSource = mustHave(run.source, 'source');
    const set = mustHave(run.set, 'set');
    const scratchDir = mustHave(run.scratchDir, 'scratch folder');
    run.space = await reserveSpace(
      scratchDir,
      request.replay ? null : (sample?.selectedBytes ?? (items === null ? set.size : null)),
      request.config,
      run.log,
    );
    run.log.info({ set: set.path, items: items?.size ?? 'all' }, 'restoring');
    run.outcome = await source.restore(set, scratchDir, {
      items,
      signal: run.signal,
      log: run.log,
    });
  },
};

/**
 * Runs the drill's checks phase by phase: restore checks, the checks the source
 * reported (restic check…), data checks, then the targets (RTO last, seeing the rest).
 * The first failed check fails the run and is its cause.
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
      startedAt: run.startedAt,
      elapsedMs: () => restoreMs + (performance.now() - verifyStart),
      signal,
    };
    const needs = checkNeeds(drill.checks, drill.targets);
    const lastPass = needs.has('lastPass')
      ? await lastPassingRun(run.request.db, drill.name)
      : undefined;
    const phased = buildPhasedChecks(drill.checks, drill.targets, { lastPass });
    for (const check of phased.restore) run.checks.push(...(await check.run(context)));
    run.checks.push(...(outcome.checks ?? []));
    for (const check of [...phased.data, ...phased.targets]) {
      signal?.throwIfAborted();
      run.checks.push(...(await check.run(context)));
    }
    const failed = run.checks.find((check) => check.verdict === 'failed');
    if (failed) {
      run.verdict = 'failed';
      run.cause = `${failed.name}: ${failed.detail}`;
    }
  },
};

/** Releases the reservation and the restore's resources, and removes scratch unless it is kept. */
export const cleanupPhase: DrillPhase = {
  name: 'cleanup',
  async run(run) {
    const { log, scratchDir } = run;
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

function shouldKeep(keep: Config['scratch']['keep'], verdict: DrillRun['verdict']): boolean {
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

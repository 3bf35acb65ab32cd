import { createHash } from 'node:crypto';
import { createTask } from 'node-cron';
import { formatDuration } from '../model/duration.js';
import type { SetItem } from '../model/restore.js';
import type { CodedError } from '../model/causes.js';

/** Where one run stands in a rotating coverage cycle. */
export interface CoverPlan {
  /** How many slices the set's items are split into. */
  slices: number;
  /** The slice this run restores, 0-based. */
  slice: number;
  /** The coverage period in milliseconds (`sample.cover`). */
  periodMs: number;
  /** Start of the current cycle: slot times are cut into periods counted from the Unix epoch. */
  cycleStart: Date;
  /** Time between runs the slices were sized for. */
  intervalMs: number;
}

/** The plan could not be made from the drill's config. */
export class CoverConfigError extends Error implements CodedError {
  override readonly name = 'CoverConfigError';
  readonly causeCode = 'config.invalid';
}

/** Occurrences of the cron expression looked at to find its interval. */
const OCCURRENCES = 64;

/**
 * The shortest gap between successive runs of a cron schedule (over its next 64 runs):
 * the most often it runs, so slices sized by it are never too few for the runs there are.
 */
export function scheduleIntervalMs(schedule: string): number {
  const task = createTask(schedule, () => undefined);
  try {
    const runs = task.getNextRuns(OCCURRENCES).map((date) => date.getTime());
    let shortest = Number.POSITIVE_INFINITY;
    for (let i = 1; i < runs.length; i++)
      shortest = Math.min(shortest, (runs[i] as number) - (runs[i - 1] as number));
    if (!Number.isFinite(shortest) || shortest <= 0)
      throw new CoverConfigError(`cannot tell how often '${schedule}' runs`);
    return shortest;
  } finally {
    void task.destroy();
  }
}

/**
 * Plans rotating coverage for the run filling `slot`: the set is split into `slices`
 * (configured, or the period divided by the schedule's interval), and the run restores
 * slice `floor((slot - cycleStart) / interval) mod slices`, so successive slots of one
 * cycle walk through every slice and an auditor can re-derive which one a run took.
 */
export function planCover(
  sample: { cover: number; slices?: number | undefined },
  schedule: string | undefined,
  slot: Date,
): CoverPlan {
  const periodMs = sample.cover;
  let intervalMs: number;
  let slices: number;
  if (schedule !== undefined) {
    intervalMs = scheduleIntervalMs(schedule);
    slices = sample.slices ?? Math.max(1, Math.floor(periodMs / intervalMs));
  } else if (sample.slices !== undefined) {
    slices = sample.slices;
    intervalMs = periodMs / slices;
  } else {
    throw new CoverConfigError(
      `sample.cover of ${formatDuration(periodMs)} needs the drill's schedule or sample.slices to know how many slices to cut the set into`,
    );
  }
  const cycleStartMs = Math.floor(slot.getTime() / periodMs) * periodMs;
  const slice = Math.floor((slot.getTime() - cycleStartMs) / intervalMs) % slices;
  return { slices, slice, periodMs, cycleStart: new Date(cycleStartMs), intervalMs };
}

/** The slice an item belongs to: a hash of its path, so it stays put as the set grows and shrinks. */
export function sliceOf(itemPath: string, slices: number): number {
  const digest = createHash('sha256').update(itemPath).digest();
  // 48 bits keep the modulo bias far below anything measurable.
  return digest.readUIntBE(0, 6) % slices;
}

/** The items of the plan's slice, in path order. */
export function coverSlice(
  items: readonly SetItem[],
  plan: Pick<CoverPlan, 'slices' | 'slice'>,
): SetItem[] {
  return items
    .filter((item) => sliceOf(item.path, plan.slices) === plan.slice)
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

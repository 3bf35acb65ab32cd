import type { SetItem } from '../model/restore.js';
import { confidenceSampleSize, type ConfidenceTarget } from './confidence.js';
import type { SampleConfig } from './sample-config.js';
import { seededRandom } from './seeded-random.js';

export interface SampleChoice {
  items: SetItem[];
  bytes: number;
}

/** How many of `total` items the sample asks for. */
export function sampleCount(size: SampleConfig['size'], total: number): number {
  if (size === 'all') return total;
  if (typeof size === 'number') return Math.min(total, size);
  const percent = Number(size.slice(0, -1));
  return Math.min(total, Math.max(total > 0 ? 1 : 0, Math.ceil((total * percent) / 100)));
}

/**
 * Draws a reproducible sample: the same items and seed always give the same choice.
 * Items are sorted by path first so listing order cannot change the draw; with
 * `stratify`, the items are split into size strata (one per decade of bytes) and
 * the draw goes round them, largest and smallest first, so both are covered.
 */
export function drawSample(
  all: readonly SetItem[],
  config: SampleConfig,
  seed: string,
): SampleChoice {
  const items = [...all].sort(byPath);
  const want = sampleCount(config.size, items.length);
  const random = seededRandom(seed);
  const pools = config.stratify && want < items.length ? strata(items) : [items];
  const shuffled = pools.map((pool) => shuffle(pool, random));
  const chosen: SetItem[] = [];
  let bytes = 0;
  const cap = config.bytes ?? Number.POSITIVE_INFINITY;
  for (let round = 0; chosen.length < want; round++) {
    let progressed = false;
    for (const pool of shuffled) {
      const item = pool[round];
      if (!item || chosen.length >= want) continue;
      progressed = true;
      if (bytes + item.size > cap) continue;
      chosen.push(item);
      bytes += item.size;
    }
    if (!progressed) break;
  }
  // A cap smaller than every item still restores something: the smallest item.
  if (chosen.length === 0 && want > 0 && items.length > 0) {
    const smallest = items.reduce((min, item) => (item.size < min.size ? item : min));
    chosen.push(smallest);
    bytes = smallest.size;
  }
  chosen.sort(byPath);
  return { items: chosen, bytes };
}

/** A confidence-based draw: the items, and the draw size the statement may be computed on. */
export interface ConfidenceChoice extends SampleChoice {
  /** n: the smallest draw that gives the confidence over this set. */
  required: number;
  /**
   * The simple-draw size the statement holds for: every stratum was sampled at
   * least at this share of the set (at least `required`; the proportional split
   * rounds up per stratum).
   */
  effective: number;
}

/**
 * Draws the smallest sample that gives `target` over `all` (see confidence.ts),
 * reproducibly from `seed`. With `stratify`, n is split over the size strata in
 * proportion to their size, rounded up, so every stratum is drawn at least at the
 * rate n/N and the statement holds as for a simple random draw of n.
 */
export function drawConfidenceSample(
  all: readonly SetItem[],
  target: ConfidenceTarget,
  stratify: boolean,
  seed: string,
): ConfidenceChoice {
  const items = [...all].sort(byPath);
  const required = confidenceSampleSize(target, items.length);
  const random = seededRandom(seed);
  const pools = stratify && required < items.length ? strata(items) : [items];
  const chosen: SetItem[] = [];
  let leastShare = 1;
  for (const pool of pools) {
    const take = Math.min(pool.length, Math.ceil((required * pool.length) / items.length));
    chosen.push(...shuffle(pool, random).slice(0, take));
    leastShare = Math.min(leastShare, take / pool.length);
  }
  chosen.sort(byPath);
  const effective = Math.max(required, Math.floor(leastShare * items.length + 1e-9));
  return {
    items: chosen,
    bytes: chosen.reduce((sum, item) => sum + item.size, 0),
    required,
    effective,
  };
}

/**
 * Tops a rotating-coverage slice up to `want` items with a seeded draw from the rest
 * of the set, so a run that must give a confidence restores at least n items.
 */
export function topUp(
  slice: readonly SetItem[],
  all: readonly SetItem[],
  want: number,
  seed: string,
): SetItem[] {
  if (slice.length >= want) return [...slice];
  const inSlice = new Set(slice.map((item) => item.path));
  const rest = all.filter((item) => !inSlice.has(item.path)).sort(byPath);
  const extra = shuffle(rest, seededRandom(seed)).slice(0, want - slice.length);
  return [...slice, ...extra].sort(byPath);
}

function byPath(a: SetItem, b: SetItem): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

function strata(items: readonly SetItem[]): SetItem[][] {
  const byDecade = new Map<number, SetItem[]>();
  for (const item of items) {
    const decade = Math.floor(Math.log10(item.size + 1));
    const pool = byDecade.get(decade) ?? [];
    pool.push(item);
    byDecade.set(decade, pool);
  }
  const ordered = [...byDecade.keys()]
    .sort((a, b) => a - b)
    .map((decade) => byDecade.get(decade) as SetItem[]);
  // Interleave from both ends: largest, smallest, next largest, next smallest...
  const out: SetItem[][] = [];
  while (ordered.length > 0) {
    out.push(ordered.pop() as SetItem[]);
    if (ordered.length > 0) out.push(ordered.shift() as SetItem[]);
  }
  return out;
}

function shuffle<T>(list: readonly T[], random: () => number): T[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

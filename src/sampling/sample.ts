import type { SetItem } from '../model/restore.js';
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
  const items = [...all].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
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
  chosen.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { items: chosen, bytes };
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

import type { SetItem } from '../sources/restore-source.js';
import type { SampleConfig } from './sample-config.js';
import { seededRandom } from './seeded-random.js';

/** Number of size strata: small, medium and large files are each drawn from. */
const STRATA = 4;

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
 * `stratify`, the items are split into size strata and the draw goes round them,
 * so large and small files are both covered.
 */
export function drawSample(all: readonly SetItem[], config: SampleConfig, seed: string): SampleChoice {
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
      // The byte cap skips items that would overflow it, but always admits one item.
      if (chosen.length > 0 && bytes + item.size > cap) continue;
      chosen.push(item);
      bytes += item.size;
    }
    if (!progressed) break;
  }
  chosen.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { items: chosen, bytes };
}

function strata(items: readonly SetItem[]): SetItem[][] {
  const bySize = [...items].sort((a, b) => a.size - b.size || (a.path < b.path ? -1 : 1));
  const pools: SetItem[][] = [];
  const per = Math.ceil(bySize.length / STRATA);
  for (let i = 0; i < bySize.length; i += per) pools.push(bySize.slice(i, i + per));
  return pools;
}

function shuffle<T>(list: readonly T[], random: () => number): T[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

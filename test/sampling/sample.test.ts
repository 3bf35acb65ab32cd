import { describe, expect, it } from 'vitest';
import { drawSample, sampleCount } from '../../src/sampling/sample.js';
import { sampleSchema } from '../../src/sampling/sample-config.js';
import { deriveSeed, seededRandom } from '../../src/sampling/seeded-random.js';
import type { SetItem } from '../../src/model/restore.js';

const items: SetItem[] = Array.from({ length: 200 }, (_, i) => ({
  path: `dir${i % 7}/file-${String(i).padStart(3, '0')}`,
  size: i < 20 ? 10_000_000 + i : 100 + i,
}));

describe('seeded sampling', () => {
  it('derives the same seed for the same drill and slot, and a different one otherwise', () => {
    expect(deriveSeed('nightly', '2026-11-27T03:00:00.000Z')).toBe(
      deriveSeed('nightly', '2026-11-27T03:00:00.000Z'),
    );
    expect(deriveSeed('nightly', '2026-11-27T03:00:00.000Z')).not.toBe(
      deriveSeed('nightly', '2026-11-28T03:00:00.000Z'),
    );
    expect(deriveSeed('a', 'x')).not.toBe(deriveSeed('b', 'x'));
  });

  it('generates a reproducible uniform sequence', () => {
    const a = seededRandom('seed');
    const b = seededRandom('seed');
    const values = Array.from({ length: 10_000 }, () => a());
    expect(values.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => b()));
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThan(1);
    const mean = values.reduce((sum, v) => sum + v, 0) / values.length;
    expect(mean).toBeGreaterThan(0.48);
    expect(mean).toBeLessThan(0.52);
  });

  it('draws the same sample from the same seed whatever the listing order', () => {
    const config = sampleSchema.parse({ size: 25 });
    const first = drawSample(items, config, 'seed-1');
    const again = drawSample([...items].reverse(), config, 'seed-1');
    expect(again.items.map((i) => i.path)).toEqual(first.items.map((i) => i.path));
    expect(first.items).toHaveLength(25);
    expect(drawSample(items, config, 'seed-2').items.map((i) => i.path)).not.toEqual(
      first.items.map((i) => i.path),
    );
  });

  it('covers large and small files alike when stratified', () => {
    const config = sampleSchema.parse({ size: 8 });
    for (const seed of ['a', 'b', 'c', 'd', 'e']) {
      const chosen = drawSample(items, config, seed).items;
      expect(chosen.some((item) => item.size >= 10_000_000)).toBe(true);
      expect(chosen.some((item) => item.size < 1_000)).toBe(true);
    }
  });

  it('sizes samples by count, percentage and byte cap', () => {
    expect(sampleCount('all', 200)).toBe(200);
    expect(sampleCount(500, 200)).toBe(200);
    expect(sampleCount('10%', 200)).toBe(20);
    expect(sampleCount('0.1%', 200)).toBe(1);
    const capped = drawSample(items, sampleSchema.parse({ size: 'all', bytes: '50KB' }), 's');
    expect(capped.bytes).toBeLessThanOrEqual(50_000);
    expect(capped.items.every((item) => item.size < 10_000_000)).toBe(true);
    // A cap smaller than any item still restores one item rather than nothing.
    expect(
      drawSample(
        [
          { path: 'big', size: 1e9 },
          { path: 'small', size: 1e6 },
        ],
        sampleSchema.parse({ size: 'all', bytes: 10 }),
        's',
      ).items.map((i) => i.path),
    ).toEqual(['small']);
    for (const seed of ['a', 'b', 'c'])
      expect(
        drawSample(items, sampleSchema.parse({ size: 5, bytes: '1MB' }), seed).bytes,
      ).toBeLessThanOrEqual(1e6);
  });

  it('rejects malformed sample sizes', () => {
    expect(sampleSchema.safeParse({ size: 'half' }).success).toBe(false);
    expect(sampleSchema.safeParse({ size: 0 }).success).toBe(false);
    expect(sampleSchema.safeParse({ bytes: 'lots' }).success).toBe(false);
  });
});

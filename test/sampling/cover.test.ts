import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { runDrill } from '../../src/drill/run-drill.js';
import { openEvidenceStore, type EvidenceStore } from '../../src/evidence/open-store.js';
import { listRunItems } from '../../src/evidence/runs.js';
import { silentLogger } from '../../src/log/logger.js';
import {
  CoverConfigError,
  coverSlice,
  planCover,
  scheduleIntervalMs,
  sliceOf,
} from '../../src/sampling/cover.js';
import { coverageShare } from '../../src/sampling/coverage.js';
import { sampleSchema } from '../../src/sampling/sample-config.js';
import type { SetItem } from '../../src/model/restore.js';
import { run, writeTree } from '../helpers/artefacts.js';
import { tempDir } from '../helpers/temp.js';
import { createTestDatabase } from '../helpers/test-database.js';

const DAY = 86_400_000;
const items: SetItem[] = Array.from({ length: 300 }, (_, i) => ({
  path: `d${i % 9}/f-${i}.txt`,
  size: i,
}));

describe('rotating coverage plan', () => {
  it('derives the number of slices from the period and the schedule interval', () => {
    expect(scheduleIntervalMs('0 3 * * *')).toBe(DAY);
    expect(scheduleIntervalMs('0 */6 * * *')).toBe(6 * 3_600_000);
    // Weekdays only: the shortest gap is a day.
    expect(scheduleIntervalMs('0 3 * * 1-5')).toBe(DAY);
    expect(
      planCover({ cover: 30 * DAY }, '0 3 * * *', new Date('2026-01-10T03:00:00Z')).slices,
    ).toBe(30);
    expect(
      planCover({ cover: 30 * DAY, slices: 4 }, '0 3 * * *', new Date('2026-01-10T03:00:00Z'))
        .slices,
    ).toBe(4);
    expect(
      planCover({ cover: 7 * DAY, slices: 7 }, undefined, new Date('2026-01-10T03:00:00Z'))
        .intervalMs,
    ).toBe(DAY);
  });

  it('walks through every slice on successive slots of a cycle, and starts again in the next', () => {
    const first = planCover({ cover: 10 * DAY }, '0 3 * * *', new Date(0 + 3 * 3_600_000));
    expect(first).toMatchObject({ slices: 10, slice: 0, cycleStart: new Date(0) });
    const slots = Array.from({ length: 10 }, (_, k) => new Date(k * DAY + 3 * 3_600_000));
    expect(slots.map((slot) => planCover({ cover: 10 * DAY }, '0 3 * * *', slot).slice)).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ]);
    const next = planCover({ cover: 10 * DAY }, '0 3 * * *', new Date(10 * DAY + 3 * 3_600_000));
    expect(next).toMatchObject({ slice: 0, cycleStart: new Date(10 * DAY) });
  });

  it('assigns each item to one slice by its path, so the slices of a cycle cover the set exactly once', () => {
    const union = new Map<string, number>();
    for (let slice = 0; slice < 10; slice++)
      for (const item of coverSlice(items, { slices: 10, slice }))
        union.set(item.path, (union.get(item.path) ?? 0) + 1);
    expect(union.size).toBe(items.length);
    expect([...union.values()].every((count) => count === 1)).toBe(true);
    // Stable as the set changes: an item keeps its slice when others come and go.
    const fewer = items.filter((_, i) => i % 3 !== 0);
    for (const item of fewer)
      expect(
        coverSlice(fewer, { slices: 10, slice: sliceOf(item.path, 10) }).map((i) => i.path),
      ).toContain(item.path);
    // Roughly even: no slice more than twice its share.
    const sizes = Array.from(
      { length: 10 },
      (_, slice) => coverSlice(items, { slices: 10, slice }).length,
    );
    expect(Math.max(...sizes)).toBeLessThan(60);
  });

  it('needs a schedule or slices to cut the set, and refuses cover with size or bytes', () => {
    expect(() => planCover({ cover: 30 * DAY }, undefined, new Date())).toThrow(CoverConfigError);
    expect(() => planCover({ cover: 30 * DAY }, undefined, new Date())).toThrow(
      "sample.cover of 30d needs the drill's schedule or sample.slices",
    );
    expect(sampleSchema.safeParse({ cover: '30d', size: '10%' }).error?.issues[0]).toMatchObject({
      path: ['cover'],
      message: expect.stringMatching(/cannot be combined with size or bytes/),
    });
    expect(sampleSchema.safeParse({ slices: 3 }).error?.issues[0]).toMatchObject({
      path: ['slices'],
    });
    expect(coverageShare([], new Set())).toBe(1);
    expect(coverageShare(['a', 'b', 'c', 'd'], new Set(['a', 'x']))).toBe(0.25);
  });
});

describe('rotating coverage through runDrill', () => {
  let store: EvidenceStore;
  let root: string;

  beforeAll(async () => {
    root = await tempDir('restore-drill-cover-');
    const files: Record<string, string> = {};
    for (let i = 0; i < 40; i++)
      files[`data/part-${String(i).padStart(2, '0')}.txt`] = `part ${i}\n`.repeat(i + 1);
    await writeTree(path.join(root, 'tree'), files);
    await run(
      'sh',
      ['-c', 'find data -type f -print0 | sort -z | xargs -0 sha256sum > SHA256SUMS'],
      path.join(root, 'tree'),
    );
    await mkdir(path.join(root, 'sets'), { recursive: true });
    await run('tar', [
      '-cf',
      path.join(root, 'sets', 'set-2026.tar'),
      '-C',
      path.join(root, 'tree'),
      '.',
    ]);
    store = await openEvidenceStore({
      url: await createTestDatabase(),
      embeddedDir: path.join(root, 'unused'),
      log: silentLogger(),
    });
  });

  afterAll(async () => {
    await store?.close();
  });

  it('restores one slice per scheduled run, every item once per cycle, and records the coverage so far', async () => {
    const config = configSchema.parse({
      scratch: { root: path.join(root, 'scratch') },
      drills: [
        {
          name: 'rotating',
          schedule: '0 3 * * *',
          source: { kind: 'tar', path: path.join(root, 'sets', 'set-*.tar') },
          sample: { cover: '5d' },
          checks: { manifest: { path: 'SHA256SUMS' } },
        },
      ],
    });
    const drill = config.drills[0]!;
    // Five daily slots of one 5-day cycle (cycles are counted from the Unix epoch).
    const cycleStart = Math.floor(Date.parse('2026-03-01T00:00:00Z') / (5 * DAY)) * 5 * DAY;
    const seen = new Set<string>();
    const coverage: number[] = [];
    for (let k = 0; k < 5; k++) {
      const slot = new Date(cycleStart + k * DAY + 3 * 3_600_000);
      const result = await runDrill({
        drill,
        config,
        configDir: root,
        db: store.db,
        log: silentLogger(),
        trigger: 'schedule',
        scheduledFor: slot,
      });
      if (result.status !== 'finished') throw new Error('slot taken');
      const record = result.record;
      expect(record.verdict).toBe('passed');
      expect(record.sample?.spec).toMatchObject({
        cover: 5 * DAY,
        slices: 5,
        slice: k,
        cycleStart: new Date(cycleStart).toISOString(),
      });
      expect(record.sample?.totalItems).toBe(40);
      const restored = (await listRunItems(store.db, record.runId))
        .map((item) => item.path)
        .filter((p) => p !== 'SHA256SUMS');
      for (const item of restored) {
        expect(sliceOf(item, 5)).toBe(k);
        seen.add(item);
      }
      coverage.push(record.sample?.coverage ?? -1);
    }
    expect(seen.size).toBe(40);
    expect(coverage[4]).toBe(1);
    expect(coverage.every((value, i) => i === 0 || value >= coverage[i - 1]!)).toBe(true);
    expect(coverage[0]).toBeLessThan(1);

    // The next cycle starts from nothing again.
    const next = await runDrill({
      drill,
      config,
      configDir: root,
      db: store.db,
      log: silentLogger(),
      trigger: 'schedule',
      scheduledFor: new Date(cycleStart + 5 * DAY + 3 * 3_600_000),
    });
    if (next.status !== 'finished') throw new Error('slot taken');
    expect(next.record.sample?.spec).toMatchObject({ slice: 0 });
    expect(next.record.sample?.coverage).toBe(coverage[0]);
  });

  it('records an error naming the fix when cover has neither a schedule nor slices', async () => {
    const config = configSchema.parse({
      scratch: { root: path.join(root, 'scratch') },
      drills: [
        {
          name: 'no-schedule',
          source: { kind: 'tar', path: path.join(root, 'sets', 'set-*.tar') },
          sample: { cover: '30d' },
        },
      ],
    });
    const result = await runDrill({
      drill: config.drills[0]!,
      config,
      configDir: root,
      db: store.db,
      log: silentLogger(),
      trigger: 'manual',
    });
    if (result.status !== 'finished') throw new Error('slot taken');
    expect(result.record.verdict).toBe('error');
    expect(result.record.cause).toBe(
      "config.invalid: sample.cover of 30d needs the drill's schedule or sample.slices to know how many slices to cut the set into",
    );
  });
});

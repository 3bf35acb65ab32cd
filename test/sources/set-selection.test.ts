import { describe, expect, it } from 'vitest';
import { SourceError, type BackupSet } from '../../src/model/restore.js';
import { selectSchema, selectSet } from '../../src/sources/set-selection.js';

const day = 86_400_000;
const now = new Date('2026-11-27T12:00:00Z');
const set = (id: string, ageDays: number | null): BackupSet => ({
  id,
  path: id,
  size: 1,
  mtime: ageDays === null ? null : new Date(now.getTime() - ageDays * day),
  hash: null,
});
// Names and times disagree on purpose: `latest` goes by name, `newest` by time.
const sets = [
  set('/b/2026-11-20', 1),
  set('/b/2026-11-26', 3),
  set('/b/2026-11-01', 30),
  set('/b/2026-10-01', 60),
];
const options = (random = 0.5) => ({ now, random: () => random, describe: 'tar source /b/*' });

describe('set selection', () => {
  it('picks latest by name, newest by mtime, oldest by mtime', () => {
    expect(selectSet(sets, 'latest', options()).id).toBe('/b/2026-11-26');
    expect(selectSet(sets, 'newest', options()).id).toBe('/b/2026-11-20');
    expect(selectSet(sets, 'oldest', options()).id).toBe('/b/2026-10-01');
  });

  it('draws random sets from the seeded generator, optionally only within a window', () => {
    expect(selectSet(sets, 'random', options(0)).id).toBe('/b/2026-10-01');
    expect(selectSet(sets, 'random', options(0.99)).id).toBe('/b/2026-11-26');
    const within = selectSchema.parse({ random: { within: '7d' } });
    for (const r of [0, 0.5, 0.99])
      expect(['/b/2026-11-20', '/b/2026-11-26']).toContain(selectSet(sets, within, options(r)).id);
    expect(() =>
      selectSet(sets, selectSchema.parse({ random: { within: '12h' } }), options()),
    ).toThrow(/younger than the random.within window/);
  });

  it('finds a fixed set by id, base name or unique prefix, and names an ambiguous or unknown one', () => {
    expect(selectSet(sets, { id: '2026-11-01' }, options()).id).toBe('/b/2026-11-01');
    expect(selectSet(sets, { id: '/b/2026-10' }, options()).id).toBe('/b/2026-10-01');
    expect(() => selectSet(sets, { id: '/b/2026-11' }, options())).toThrow(
      `backup set id '/b/2026-11' is ambiguous in tar source /b/*: 3 sets start with it`,
    );
    expect(() => selectSet(sets, { id: '2027-01-01' }, options())).toThrow(
      `backup set '2027-01-01' not found in tar source /b/*`,
    );
  });

  it('is an error, not a crash, when no set matched', () => {
    expect(() => selectSet([], 'latest', options())).toThrow(SourceError);
    expect(() => selectSet([], 'latest', options())).toThrow(
      'no backup set matched tar source /b/*',
    );
  });
});

import { z } from 'zod';
import { durationSchema } from '../model/duration.js';
import { SourceError, type BackupSet } from '../model/restore.js';

/**
 * How a drill picks one backup set among those a source offers:
 * - `latest`: the greatest id by name (ISO-dated names sort right);
 * - `newest`: the most recent mtime;
 * - `oldest`: the oldest retained set (proves retention);
 * - `random`: any set, or with `{ random: { within: 7d } }` any set younger than that, drawn with the run's seed;
 * - `{ id }`: one fixed set.
 */
export const selectSchema = z
  .union([
    z.enum(['latest', 'newest', 'oldest', 'random']),
    z.strictObject({
      random: z.strictObject({ within: durationSchema.describe('Only sets younger than this.') }),
    }),
    z.strictObject({
      id: z
        .string()
        .min(1)
        .describe('The exact set id: a base name, an object key or a snapshot id.'),
    }),
  ])
  .default('latest')
  .describe(
    'How to pick the backup set: latest (by name), newest (by mtime), oldest, random, {random: {within: 7d}} or {id: ...}.',
  );

export type SelectPolicy = z.output<typeof selectSchema>;

/** Picks a set by the policy; `random` draws from `random()` so the choice is reproducible from the run's seed. */
export function selectSet(
  sets: readonly BackupSet[],
  policy: SelectPolicy,
  options: { now: Date; random: () => number; describe: string },
): BackupSet {
  if (sets.length === 0)
    throw new SourceError(`no backup set matched ${options.describe}`, false, { code: 'set.none' });
  const byName = [...sets].sort(
    (a, b) => baseName(a.id).localeCompare(baseName(b.id), 'en') || a.id.localeCompare(b.id, 'en'),
  );
  const byTime = [...sets].sort(
    (a, b) =>
      (a.mtime?.getTime() ?? 0) - (b.mtime?.getTime() ?? 0) || a.id.localeCompare(b.id, 'en'),
  );
  if (policy === 'latest') return byName[byName.length - 1] as BackupSet;
  if (policy === 'newest') return byTime[byTime.length - 1] as BackupSet;
  if (policy === 'oldest') return byTime[0] as BackupSet;
  if (policy === 'random') return pick(byName, options.random);
  if ('random' in policy) {
    const since = options.now.getTime() - policy.random.within;
    const recent = byName.filter((set) => set.mtime !== null && set.mtime.getTime() >= since);
    if (recent.length === 0)
      throw new SourceError(
        `no backup set of ${options.describe} is younger than the random.within window`,
        false,
        { code: 'set.none' },
      );
    return pick(recent, options.random);
  }
  const fixed = sets.find((set) => set.id === policy.id || baseName(set.id) === policy.id);
  if (fixed) return fixed;
  // A unique prefix of an id, as users paste short snapshot ids.
  const prefixed = policy.id.length >= 4 ? sets.filter((set) => set.id.startsWith(policy.id)) : [];
  if (prefixed.length === 1) return prefixed[0] as BackupSet;
  if (prefixed.length > 1)
    throw new SourceError(
      `backup set id '${policy.id}' is ambiguous in ${options.describe}: ${prefixed.length} sets start with it`,
      false,
      { code: 'set.none' },
    );
  throw new SourceError(`backup set '${policy.id}' not found in ${options.describe}`, false, {
    code: 'set.none',
  });
}

function pick(sets: readonly BackupSet[], random: () => number): BackupSet {
  return sets[Math.min(sets.length - 1, Math.floor(random() * sets.length))] as BackupSet;
}

function baseName(id: string): string {
  const trimmed = id.replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

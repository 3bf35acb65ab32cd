import { type Check, type CheckContext } from './check.js';
import { resultFromFindings, type CheckResult, type Finding } from '../model/check-result.js';
import { plural } from '../model/describe.js';
import type { BackupDamage, SkippedEntry } from '../model/restore.js';
import { z } from 'zod';
import { defineCheckKind } from './check-kind.js';

/**
 * `restore`: the source restored everything it was asked to. Every entry it refused
 * (one that would escape scratch, a device file…) is a finding naming the entry, and a
 * backup found damaged part-way is the first finding, naming where the data went bad.
 * Special files the source skipped (sockets, FIFOs, devices: no data) are listed, never failed.
 */
export class RestoreCheck implements Check {
  readonly name = 'restore';

  async run(context: CheckContext): Promise<CheckResult[]> {
    const { files, refused, tables, damage } = context.outcome;
    const skipped = context.outcome.skipped ?? [];
    const findings: Finding[] = refused.map((entry) => ({
      item: entry.entry,
      problem: 'refused',
      actual: entry.reason,
    }));
    if (damage) {
      findings.unshift({
        item: damage.entry ?? context.set.path,
        problem: 'damaged',
        expected: 'readable to its end',
        actual:
          damage.offset === null ? damage.detail : `${damage.detail} at byte ${damage.offset}`,
      });
    }
    const restored = `${plural(files.length, 'file')}${tables !== undefined ? `, ${plural(tables.length, 'table')}` : ''}`;
    return [
      resultFromFindings(this.name, findings, {
        expected: { refused: 0 },
        actual: {
          ...(damage ? { damaged: damage } : {}),
          refused: refused.length,
          files: files.length,
          ...(skipped.length > 0
            ? { skipped: skipped.length, skippedEntries: skipped.slice(0, MAX_SKIPPED_SHOWN) }
            : {}),
          ...(tables !== undefined ? { tables: tables.length } : {}),
        },
        passDetail: `restored ${restored}, refused none${describeSkipped(skipped)}`,
        failDetail: (found) => {
          if (damage) return describeDamage(damage, context.set.path, restored, refused.length);
          const shown = found
            .slice(0, 3)
            .map((finding) => `${finding.item} (${String(finding.actual)})`);
          const more =
            found.length > shown.length ? ` and ${found.length - shown.length} more` : '';
          return `refused ${plural(found.length, 'entry', 'entries')}: ${shown.join(', ')}${more}`;
        },
      }),
    ];
  }
}

/** Skipped entries kept in the evidence: enough to name them, bounded for a set of many. */
const MAX_SKIPPED_SHOWN = 100;

function describeSkipped(skipped: readonly SkippedEntry[]): string {
  if (skipped.length === 0) return '';
  const shown = skipped.slice(0, 3).map((entry) => `${entry.entry} (${entry.kind})`);
  const more = skipped.length > shown.length ? ` and ${skipped.length - shown.length} more` : '';
  return `; skipped ${plural(skipped.length, 'special file')} (no data): ${shown.join(', ')}${more}`;
}

function describeDamage(
  damage: BackupDamage,
  set: string,
  restored: string,
  refused: number,
): string {
  const where = damage.entry === null ? '' : ` at entry ${damage.entry}`;
  const offset = damage.offset === null ? '' : ` (byte ${damage.offset})`;
  const more = refused > 0 ? `, refused ${plural(refused, 'entry', 'entries')}` : '';
  return `backup damaged: ${damage.detail}${where}${offset} in ${set}; restored ${restored} before it${more}`;
}

/** `restore` always runs, first: a restore that refused entries fails whatever else is checked. */
export const restoreCheckKind = defineCheckKind({
  kind: 'restore',
  section: null,
  configSchema: z.undefined(),
  phase: 'restore',
  create: () => [new RestoreCheck()],
});

import {
  resultFromFindings,
  type Check,
  type CheckContext,
  type CheckResult,
  type Finding,
} from './check.js';
import { plural } from './describe.js';
import { z } from 'zod';
import { defineCheckKind } from './check-kind.js';

/**
 * `restore`: the source restored everything it was asked to. Every entry it refused
 * (one that would escape scratch, a device file…) is a finding naming the entry.
 */
export class RestoreCheck implements Check {
  readonly name = 'restore';

  async run(context: CheckContext): Promise<CheckResult[]> {
    const { files, refused, tables } = context.outcome;
    const findings: Finding[] = refused.map((entry) => ({
      item: entry.entry,
      problem: 'refused',
      actual: entry.reason,
    }));
    const restored = `${plural(files.length, 'file')}${tables !== undefined ? `, ${plural(tables.length, 'table')}` : ''}`;
    return [
      resultFromFindings(this.name, findings, {
        expected: { refused: 0 },
        actual: {
          refused: refused.length,
          files: files.length,
          ...(tables !== undefined ? { tables: tables.length } : {}),
        },
        passDetail: `restored ${restored}, refused none`,
        failDetail: (found) => {
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

/** `restore` always runs, first: a restore that refused entries fails whatever else is checked. */
export const restoreCheckKind = defineCheckKind({
  kind: 'restore',
  section: null,
  configSchema: z.undefined(),
  phase: 'restore',
  create: () => [new RestoreCheck()],
});

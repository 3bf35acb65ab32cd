import { z } from 'zod';
import { type Check, type CheckContext } from './check.js';
import { resultFromFindings, type CheckResult, type Finding } from '../model/check-result.js';
import { plural } from '../model/describe.js';
import { dataFiles } from './manifest-check.js';
import { defineCheckKind } from './check-kind.js';

/** How many files the restore must produce. */
export const filesCheckConfigSchema = z
  .strictObject({
    min: z.number().int().nonnegative().optional().describe('At least this many files.'),
    exact: z.number().int().nonnegative().optional().describe('Exactly this many files.'),
  })
  .refine((value) => value.min !== undefined || value.exact !== undefined, {
    message: 'expected min or exact',
  })
  .describe('Count the restored files (the manifest itself is not counted).');

/** `checks.files`, parsed. */
export type FilesCheckConfig = z.output<typeof filesCheckConfigSchema>;

/**
 * `files`: the number of restored files (the manifest itself not counted) against
 * `min` and/or `exact`. When sampling, the count is the sample's.
 */
export class FilesCheck implements Check {
  readonly name = 'files';

  constructor(private readonly config: FilesCheckConfig) {}

  async run(context: CheckContext): Promise<CheckResult[]> {
    const count = dataFiles(context.outcome.files, context.manifestsInSet).length;
    const { min, exact } = this.config;
    const findings: Finding[] = [];
    const where = context.sampled ? 'restored sample' : 'restore';
    if (exact !== undefined && count !== exact) {
      findings.push({
        item: `${where}`,
        problem: count < exact ? 'too-few-files' : 'too-many-files',
        expected: { exact },
        actual: { files: count },
      });
    }
    if (min !== undefined && count < min)
      findings.push({
        item: `${where}`,
        problem: 'too-few-files',
        expected: { min },
        actual: { files: count },
      });
    const wanted = [
      exact !== undefined ? `exactly ${exact}` : null,
      min !== undefined ? `at least ${min}` : null,
    ]
      .filter(Boolean)
      .join(' and ');
    return [
      resultFromFindings(this.name, findings, {
        expected: {
          ...(min !== undefined ? { min } : {}),
          ...(exact !== undefined ? { exact } : {}),
          ...(context.sampled ? { sampled: true } : {}),
        },
        actual: { files: count },
        passDetail: `${plural(count, 'file')} restored${context.sampled ? ' (sample)' : ''}, expected ${wanted}`,
        failDetail: () =>
          `${plural(count, 'file')} restored${context.sampled ? ' (sample)' : ''}, expected ${wanted}`,
      }),
    ];
  }
}

/** `checks.files`; the manifest config tells it which restored file not to count. */
export const filesCheckKind = defineCheckKind({
  kind: 'files',
  section: 'checks',
  configSchema: filesCheckConfigSchema.optional(),
  phase: 'data',
  create: (config) => [new FilesCheck(config)],
});

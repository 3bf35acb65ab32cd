import { z } from 'zod';
import { byteSizeSchema } from '../model/primitives.js';
import { type Check, type CheckContext } from './check.js';
import { resultFromFindings, type CheckResult, type Finding } from '../model/check-result.js';
import { formatBytes } from '../model/primitives.js';
import { dataFiles } from './manifest-check.js';
import { defineCheckKind } from './check-kind.js';

/** How many bytes the restore must produce at least. */
export const bytesCheckConfigSchema = z
  .strictObject({ min: byteSizeSchema.describe('At least this many bytes in total, e.g. 1GB.') })
  .describe('Total size of the restored files.');

/** `checks.bytes`, parsed (sizes in bytes). */
export type BytesCheckConfig = z.output<typeof bytesCheckConfigSchema>;

/**
 * `bytes`: the total size of the restored files against `min`. Like `files`, the
 * manifest itself is not counted, and when sampling the total is the sample's.
 */
export class BytesCheck implements Check {
  readonly name = 'bytes';

  constructor(private readonly config: BytesCheckConfig) {}

  async run(context: CheckContext): Promise<CheckResult[]> {
    let bytes = 0;
    for (const file of dataFiles(context.outcome.files, context.manifestsInSet)) bytes += file.size;
    const min = this.config.min;
    const findings: Finding[] =
      bytes < min
        ? [
            {
              item: context.sampled ? 'restored sample' : 'restore',
              problem: 'too-few-bytes',
              expected: { minBytes: min },
              actual: { bytes },
            },
          ]
        : [];
    const summary = `${formatBytes(bytes)} (${bytes} bytes) restored${context.sampled ? ' (sample)' : ''}, expected at least ${formatBytes(min)}`;
    return [
      resultFromFindings(this.name, findings, {
        expected: {
          minBytes: min,
          min: formatBytes(min),
          ...(context.sampled ? { sampled: true } : {}),
        },
        actual: { bytes, size: formatBytes(bytes) },
        passDetail: summary,
        failDetail: () => summary,
      }),
    ];
  }
}

/** `checks.bytes`; the manifest config tells it which restored file not to count. */
export const bytesCheckKind = defineCheckKind({
  kind: 'bytes',
  section: 'checks',
  configSchema: bytesCheckConfigSchema.optional(),
  phase: 'data',
  create: (config) => [new BytesCheck(config)],
});

import { z } from 'zod';
import { byteSizeSchema } from '../model/primitives.js';
import { durationSchema } from '../model/duration.js';

/** How many items: `all`, a count, or a percentage like `10%`. */
export const sampleSizeSchema = z
  .union([
    z.literal('all'),
    z.number().int().positive(),
    z
      .string()
      .regex(/^\d+(\.\d+)?%$/, { message: "expected 'all', a count, or a percentage like '10%'" })
      .refine(
        (text) => {
          const percent = Number(text.slice(0, -1));
          return percent > 0 && percent <= 100;
        },
        { message: "expected a percentage above 0% and at most 100%, e.g. '10%'" },
      ),
  ])
  .describe("How many items to restore: 'all', a count like 50, or a percentage like '10%'.");

/** What part of a set each run restores. Sampling is seeded and recorded so an auditor can re-derive it. */
export const sampleSchema = z
  .strictObject({
    size: sampleSizeSchema.default('all'),
    bytes: byteSizeSchema
      .optional()
      .describe('Stop adding items once the sample reaches this many bytes.'),
    cover: durationSchema
      .optional()
      .describe(
        "Rotate through the set so that every item is restored at least once per this period, e.g. '30d': each run restores one slice.",
      ),
    slices: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe(
        'With cover: how many slices to cut the set into; default: the period divided by the interval of the schedule.',
      ),
    stratify: z
      .boolean()
      .default(true)
      .describe('Draw from small and large files alike (size strata), so both are always covered.'),
  })
  .superRefine((sample, ctx) => {
    if (sample.cover !== undefined && (sample.size !== 'all' || sample.bytes !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['cover'],
        message: 'cover restores one whole slice per run; it cannot be combined with size or bytes',
      });
    }
    if (sample.slices !== undefined && sample.cover === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['slices'],
        message: 'slices needs cover (the period every item is restored in)',
      });
    }
  })
  .describe('Which items of the backup set to restore; by default all of them.');

export type SampleConfig = z.output<typeof sampleSchema>;

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

/** A percentage strictly between 0% and 100%, e.g. '95%' or '0.5%'. */
const openPercentSchema = z
  .string()
  .regex(/^\d+(\.\d+)?%$/, { message: "expected a percentage like '95%'" })
  .refine(
    (text) => {
      const percent = Number(text.slice(0, -1));
      return percent > 0 && percent < 100;
    },
    { message: "expected a percentage above 0% and below 100%, e.g. '95%'" },
  );

/** A percentage as a fraction: '95%' -> 0.95. */
export function percentFraction(text: string): number {
  return Number(text.slice(0, -1)) / 100;
}

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
    confidence: openPercentSchema
      .optional()
      .describe(
        "With tolerance: restore the smallest sample that gives this confidence, e.g. '95%', that at most the tolerance's share of the set is unrestorable when every sampled item restores and verifies.",
      ),
    tolerance: openPercentSchema
      .optional()
      .describe(
        "With confidence: the share of the set's items allowed to be unrestorable, e.g. '1%' (about 299 items at 95% for a large set).",
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
    if ((sample.confidence === undefined) !== (sample.tolerance === undefined)) {
      const missing = sample.confidence === undefined ? 'confidence' : 'tolerance';
      ctx.addIssue({
        code: 'custom',
        path: [missing],
        message: `confidence and tolerance go together: set ${missing} too, e.g. confidence: '95%', tolerance: '1%'`,
      });
    }
    if (sample.confidence !== undefined && (sample.size !== 'all' || sample.bytes !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['confidence'],
        message:
          'confidence and tolerance decide how many items to restore; they cannot be combined with size or bytes',
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

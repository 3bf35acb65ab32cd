import { z } from 'zod';

/** How many files the restore must produce. */
export const filesCheckConfigSchema = z
  .strictObject({
    min: z.number().int().nonnegative().optional().describe('At least this many files.'),
    exact: z.number().int().nonnegative().optional().describe('Exactly this many files.'),
  })
  .refine((value) => value.min !== undefined || value.exact !== undefined, { message: 'expected min or exact' })
  .describe('Count the restored files (the manifest itself is not counted).');

import { z } from 'zod';
import { byteSizeSchema } from '../config/common.js';

/** How many bytes the restore must produce at least. */
export const bytesCheckConfigSchema = z
  .strictObject({ min: byteSizeSchema.describe('At least this many bytes in total, e.g. 1GB.') })
  .describe('Total size of the restored files.');

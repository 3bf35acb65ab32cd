import { z } from 'zod';

/** What to do with restored files the manifest does not list. */
export const extraFilesConfigSchema = z
  .enum(['fail', 'warn', 'ignore'])
  .default('fail')
  .describe('A restored file the manifest does not list: fail the run, warn, or ignore it.');

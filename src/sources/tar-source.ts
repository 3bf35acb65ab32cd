import { z } from 'zod';
import { selectSchema } from './set-selection.js';
import { defineSourceKind } from './source-kind.js';

/** A backup set is a .tar, .tar.gz or .tgz archive chosen among those matching a glob. */
export const tarSourceConfigSchema = z
  .strictObject({
    kind: z.literal('tar'),
    path: z.string().min(1).describe('Glob over archives (.tar, .tar.gz, .tgz), e.g. /backups/fileserver/*.tar.gz; relative to the config file.'),
    select: selectSchema,
  })
  .describe('Backup sets are tar archives, optionally gzip-compressed.');

export const tarSourceKind = defineSourceKind({
  kind: 'tar',
  configSchema: tarSourceConfigSchema,
  create() {
    throw new Error('tar source: not yet implemented');
  },
});

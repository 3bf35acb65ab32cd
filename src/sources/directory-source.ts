import { z } from 'zod';
import { selectSchema } from './set-selection.js';
import { defineSourceKind } from './source-kind.js';

/** A backup set is a folder; the set is chosen among folders matching a glob. */
export const directorySourceConfigSchema = z
  .strictObject({
    kind: z.literal('directory'),
    path: z.string().min(1).describe('Glob over backup-set folders, e.g. /backups/app/2026-*; relative to the config file.'),
    select: selectSchema,
  })
  .describe('Backup sets are folders on a local or mounted file system.');

export const directorySourceKind = defineSourceKind({
  kind: 'directory',
  configSchema: directorySourceConfigSchema,
  create() {
    throw new Error('directory source: not yet implemented');
  },
});

import { z } from 'zod';
import { localPathSchema } from '../model/local-path.js';
import { globBase } from './glob-sets.js';
import { selectSchema } from './set-selection.js';
import { defineSourceConfigKind } from './source-kind.js';

/** A backup set is a folder; the set is chosen among folders matching a glob. */
export const directorySourceConfigSchema = z
  .strictObject({
    kind: z.literal('directory'),
    path: localPathSchema.describe(
      'Glob over backup-set folders, e.g. /backups/app/2026-*; relative to the config file.',
    ),
    select: selectSchema,
  })
  .describe('Backup sets are folders on a local or mounted file system.');

export type DirectorySourceConfig = z.output<typeof directorySourceConfigSchema>;

/** The config side of the directory source: its schema and the paths it reads, without its restore code. */
export const directorySourceConfigKind = defineSourceConfigKind({
  kind: 'directory',
  configSchema: directorySourceConfigSchema,
  localPaths(config, context) {
    return [globBase(config.path, context.configDir)];
  },
});

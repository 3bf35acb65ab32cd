import { z } from 'zod';
import { localPathSchema } from '../model/local-path.js';
import { globBase } from './glob-sets.js';
import { selectSchema } from './set-selection.js';
import { defineSourceConfigKind } from './source-kind.js';

/** A set is a folder written by `restore-drill evidence backup --out DIR`. */
export const evidenceBackupSourceConfigSchema = z
  .strictObject({
    kind: z.literal('evidence-backup'),
    path: localPathSchema.describe(
      'Glob over the folders `restore-drill evidence backup --out DIR` writes, e.g. /backups/evidence/*; relative to the config file. Folders are named by their UTC time, so `latest` (the default) is the newest backup.',
    ),
    select: selectSchema,
  })
  .describe(
    "The evidence store's own backups: restored into an embedded database in scratch, verified end to end and compared with the live chain.",
  );

export type EvidenceBackupSourceConfig = z.output<typeof evidenceBackupSourceConfigSchema>;

/** The config side of the evidence-backup source: its schema and the paths it reads, without its restore code. */
export const evidenceBackupSourceConfigKind = defineSourceConfigKind({
  kind: 'evidence-backup',
  configSchema: evidenceBackupSourceConfigSchema,
  localPaths(config, context) {
    return [globBase(config.path, context.configDir)];
  },
});

import { z } from 'zod';
import { localPathSchema } from '../model/local-path.js';
import { globBase } from './glob-sets.js';
import { selectSchema } from './set-selection.js';
import { defineSourceConfigKind } from './source-kind.js';

/** A backup set is a tar archive (plain, gzip, xz, bzip2 or zstd) chosen among those matching a glob. */
export const tarSourceConfigSchema = z
  .strictObject({
    kind: z.literal('tar'),
    path: localPathSchema.describe(
      'Glob over archives (.tar, .tar.gz/.tgz, .tar.xz/.txz, .tar.bz2/.tbz2/.tbz, .tar.zst/.tzst), e.g. /backups/fileserver/*.tar.gz; relative to the config file. The compression is read from the bytes; xz, bzip2 and zstd need the xz, bzip2 and zstd tools on PATH.',
    ),
    select: selectSchema,
  })
  .describe('Backup sets are tar archives, plain or compressed with gzip, xz, bzip2 or zstd.');

export type TarSourceConfig = z.output<typeof tarSourceConfigSchema>;

/** The config side of the tar source: its schema and the paths it reads, without its restore code. */
export const tarSourceConfigKind = defineSourceConfigKind({
  kind: 'tar',
  configSchema: tarSourceConfigSchema,
  localPaths(config, context) {
    return [globBase(config.path, context.configDir)];
  },
});

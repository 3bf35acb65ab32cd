import { z } from 'zod';
import { localPathSchema } from '../model/local-path.js';
import { durationSchema } from '../model/duration.js';
import type { DumpFormat } from './postgres/dump-format.js';
import { globBase } from './glob-sets.js';
import { selectSchema } from './set-selection.js';
import { defineSourceConfigKind } from './source-kind.js';

const ARCHIVE_FORMATS: readonly DumpFormat[] = ['custom', 'directory', 'tar'];

/** The PostgreSQL server scratch databases are created on; never defaulted, never taken from PG* variables. */
const scratchServerSchema = z
  .strictObject({
    url: z
      .string()
      .regex(/^postgres(ql)?:\/\//, { message: 'expected a postgres:// or postgresql:// URL' })
      .describe(
        'URL of the scratch server and a database to connect to for CREATE/DROP DATABASE, e.g. postgres://restore:${env:SCRATCH_PG_PASSWORD}@scratch-db:5432/postgres. The user needs CREATEDB.',
      ),
  })
  .describe(
    'The PostgreSQL server each run restores into, in a fresh database dropped afterwards. Must be named explicitly.',
  );

/** A backup set is a pg_dump output: a -Fc/-Ft file, a -Fd folder or a plain SQL file, chosen by glob. */
export const postgresSourceConfigSchema = z
  .strictObject({
    kind: z.literal('postgres'),
    path: localPathSchema.describe(
      'Glob over dumps: files (pg_dump -Fc, -Ft or plain SQL, the plain SQL optionally compressed with gzip, zstd, xz or bzip2: zstd, xz and bzip2 need those tools on PATH) or folders (-Fd), e.g. /backups/db/*.dump; relative to the config file.',
    ),
    select: selectSchema,
    format: z
      .enum(['auto', 'custom', 'directory', 'tar', 'plain'])
      .default('auto')
      .describe(
        'The dump format; auto tells it from the bytes (PGDMP header, toc.dat folder, ustar, else plain SQL).',
      ),
    scratchServer: scratchServerSchema.optional(),
    jobs: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(2)
      .describe('Parallel pg_restore jobs (-j) for custom and directory dumps.'),
    pgRestore: localPathSchema
      .default('pg_restore')
      .describe('The pg_restore binary: a name on PATH or a path (relative to the config file).'),
    psql: z
      .string()
      .min(1)
      .default('psql')
      .describe('The psql binary, for plain dumps restored into the scratch server.'),
    timeout: durationSchema
      .optional()
      .describe('Stop pg_restore or psql after this long (the drill fails with the cause).'),
  })
  .superRefine((config, ctx) => {
    if (
      config.scratchServer === undefined &&
      ARCHIVE_FORMATS.includes(config.format as DumpFormat)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['scratchServer'],
        message: `a ${config.format} dump is restored with pg_restore into a PostgreSQL server: set scratchServer.url (only plain SQL dumps can go into the embedded PGlite)`,
      });
    }
  })
  .describe(
    'Backup sets are pg_dump outputs, restored into a fresh scratch database (or an embedded PGlite for plain SQL without a scratch server).',
  );

export type PostgresSourceConfig = z.output<typeof postgresSourceConfigSchema>;

/** The config side of the postgres source: its schema and the paths it reads, without its restore code. */
export const postgresSourceConfigKind = defineSourceConfigKind({
  kind: 'postgres',
  configSchema: postgresSourceConfigSchema,
  localPaths(config, context) {
    return [globBase(config.path, context.configDir)];
  },
});

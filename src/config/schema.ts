import { localPathSchema } from '../model/local-path.js';
import { z } from 'zod';
import { alertsConfigSchema, checkAlertReferences } from '../alerts/alerts-config.js';
import { checksSchema, targetsSchema } from '../checks/registry.js';
import { controlsSchema, waiverSchema } from '../report/controls.js';
import { serveConfigSchema } from '../report/server/serve-config.js';
import { sampleSchema } from '../sampling/sample-config.js';
import { daemonConfigSchema } from './daemon-config.js';
import { sourceConfigSchema } from '../sources/config-registry.js';
import { byteSizeSchema, cronSchema, nameSchema } from '../model/primitives.js';
import { durationSchema } from '../model/duration.js';

/** One restore drill: which backups, how often, how much, and what to check. */
export const drillSchema = z
  .strictObject({
    name: nameSchema.describe('Unique name of the drill, used by --drill and in evidence.'),
    description: z
      .string()
      .optional()
      .describe('What this drill proves, for the people who read the reports.'),
    owner: z
      .string()
      .optional()
      .describe('Team or person responsible; alerts and reports name them.'),
    tags: z
      .array(z.string())
      .default([])
      .describe('Free-form labels; alert routes can match them.'),
    schedule: cronSchema
      .optional()
      .describe("When the daemon runs this drill, as cron, e.g. '0 3 * * *'."),
    timeout: durationSchema
      .optional()
      .describe('Stop the drill after this long; the run is recorded as timed_out.'),
    maxAge: durationSchema
      .optional()
      .describe(
        'The drill is stale when it has not passed within this long, e.g. 8d for a weekly drill.',
      ),
    source: sourceConfigSchema,
    sample: sampleSchema.optional(),
    checks: checksSchema.default({ extraFiles: 'fail' }),
    targets: targetsSchema.optional(),
    controls: controlsSchema,
    waivers: z
      .array(waiverSchema)
      .default([])
      .describe(
        'Accepted exceptions for a known failing or paused drill; reports list them and flag expired ones.',
      ),
    selftest: z
      .strictObject({
        every: z
          .number()
          .int()
          .min(1)
          .describe(
            'After every Nth recorded run of this drill, the daemon runs `restore-drill selftest` on it (its result is its own record).',
          ),
      })
      .optional()
      .describe('Prove on a schedule that the checks bite: a selftest after every Nth daemon run.'),
  })
  .superRefine((drill, ctx) => {
    if (drill.checks.achievedRpo !== undefined && drill.targets?.rpo === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['checks', 'achievedRpo'],
        message: 'the achieved RPO is judged against targets.rpo: set targets.rpo',
      });
    if (drill.checks.live !== undefined && drill.source.kind !== 'directory')
      ctx.addIssue({
        code: 'custom',
        path: ['checks', 'live'],
        message: `compares restored files with a live folder, so it needs a directory source; this drill's source is '${drill.source.kind}'`,
      });
  })
  .describe('A restore drill.');

/** Where scratch restores land. */
export const scratchSchema = z
  .strictObject({
    root: localPathSchema
      .default('.restore-drill/scratch')
      .describe(
        'Every restore lands in a fresh subfolder of this folder; relative to the config file.',
      ),
    keep: z
      .enum(['never', 'on-failure', 'always'])
      .default('never')
      .describe(
        'Keep the scratch subfolder after a run: never, on-failure (for investigation), or always.',
      ),
    keepFor: durationSchema
      .prefault('3d')
      .describe(
        'How long a kept or left-over scratch subfolder (scratch.keep, an interrupted run) stays before `run` and the daemon remove it.',
      ),
    minFree: byteSizeSchema
      .optional()
      .describe(
        'A restore stops with the cause "scratch full" once free space in scratch falls under this (and a restore expected to need more is not started). Default: the smaller of 512 MiB and 2% of the scratch file system.',
      ),
  })
  .describe('Scratch space for restores.');

/** The evidence database. */
export const databaseSchema = z
  .strictObject({
    url: z
      .string()
      .regex(/^postgres(ql)?:\/\//, { message: 'expected a postgres:// or postgresql:// URL' })
      .optional()
      .describe('PostgreSQL URL; when absent, an embedded PGlite database in `path`.'),
    path: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Folder of the embedded PGlite database (its pgdata and lock file) when `url` is absent, relative to the config file; default .restore-drill beside it. Under systemd's ProtectSystem=strict, /etc is read-only: use a folder in the unit's StateDirectory, e.g. /var/lib/restore-drill/evidence.",
      ),
    waitFor: durationSchema
      .prefault('2m')
      .describe(
        'How long the start of a run waits for an unreachable evidence store, retrying with backoff; past that the drill does not run and is reported as error, not recorded.',
      ),
  })
  .refine((database) => database.url === undefined || database.path === undefined, {
    message: 'is the embedded database folder, unused with url: remove one of them',
    path: ['path'],
  })
  .describe('Where evidence is stored.');

/** How the evidence is kept. */
export const evidenceConfigSchema = z
  .strictObject({
    retention: z
      .strictObject({
        minimum: durationSchema
          .prefault('7y')
          .describe(
            'The retention floor: `evidence purge` refuses (removes nothing, exit 2) when it would remove the evidence of a run started less than this long ago. Default 7y (365-day years), as many audit regimes require.',
          ),
      })
      .prefault({})
      .describe('Retention of the evidence.'),
    backup: z
      .strictObject({
        out: localPathSchema.describe(
          'The folder each backup is made in (a new folder named by its UTC time, as `evidence backup --out`); relative to the config file. Drill it with a drill of source kind `evidence-backup` over `OUT/*`.',
        ),
        schedule: cronSchema.describe(
          'When `restore-drill daemon` backs up the evidence store, e.g. "0 3 * * *".',
        ),
        pgDump: z
          .boolean()
          .default(false)
          .describe(
            'Also write a pg_dump of the evidence database in the same snapshot (PostgreSQL stores only).',
          ),
      })
      .optional()
      .describe(
        'Scheduled backups of the evidence store by the daemon (`restore-drill evidence backup` on a schedule).',
      ),
  })
  .describe('How the evidence is kept.');

/** How failed runs are reviewed (signed off). */
export const reviewConfigSchema = z
  .strictObject({
    maxUnreviewed: durationSchema
      .prefault('7d')
      .describe(
        'How long a failed run may stay without a review (`restore-drill signoff`) before reports list it first as an unreviewed failure and, with an `alerts` block, an `unreviewed` alert goes out once for it. Default 7d.',
      ),
  })
  .describe('Sign-off of failed runs: who reviewed them and what was decided.');

/** Where results wait when the evidence store cannot take them. */
export const spoolSchema = z
  .strictObject({
    path: z
      .string()
      .min(1)
      .default('.restore-drill/spool')
      .describe(
        'Folder for results the evidence store could not take (down, read-only): one JSON file per run, replayed into the store by the next command that opens it and by the daemon. Relative to the config file; keep it on persistent storage (a PersistentVolume, systemd StateDirectory=).',
      ),
    alertAfter: durationSchema
      .prefault('1h')
      .describe(
        'Alert (once per run, through every channel in `alerts.channels`) when a result has waited in the spool longer than this: the evidence store has not taken it back. Default 1h.',
      ),
  })
  .describe('The local spool of results waiting for the evidence store.');

/** The whole config file. */
export const configSchema = z
  .strictObject({
    $schema: z.string().optional().describe('Path or URL of the JSON Schema, for editors.'),
    database: databaseSchema.prefault({}),
    evidence: evidenceConfigSchema.prefault({}),
    review: reviewConfigSchema.prefault({}),
    spool: spoolSchema.prefault({}),
    scratch: scratchSchema.prefault({}),
    drills: z
      .array(drillSchema)
      .min(1, { message: 'expected at least one drill' })
      .describe('The restore drills.'),
    alerts: alertsConfigSchema.optional(),
    serve: serveConfigSchema.optional(),
    daemon: daemonConfigSchema.prefault({}),
  })
  .superRefine((config, ctx) => {
    const seen = new Map<string, number>();
    config.drills.forEach((drill, index) => {
      const first = seen.get(drill.name);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['drills', index, 'name'],
          message: `duplicate drill name '${drill.name}' (also drills[${first}])`,
        });
      } else seen.set(drill.name, index);
    });
    checkAlertReferences(config, ctx);
    if (config.evidence.backup?.pgDump && config.database.url === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['evidence', 'backup', 'pgDump'],
        message:
          'pg_dump needs a PostgreSQL evidence store (database.url); the embedded store is backed up as the bundle',
      });
  })
  .describe('restore-drill configuration.');

export type Config = z.output<typeof configSchema>;
export type DrillConfig = z.output<typeof drillSchema>;
export type { ChecksConfig, TargetsConfig } from '../checks/registry.js';
export { checksSchema, targetsSchema };

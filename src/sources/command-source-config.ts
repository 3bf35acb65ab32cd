import { z } from 'zod';
import { localPathSchema } from '../model/local-path.js';
import { durationSchema } from '../model/duration.js';
import { globBase } from './glob-sets.js';
import { selectSchema } from './set-selection.js';
import { defineSourceConfigKind } from './source-kind.js';

const argvSchema = z
  .array(z.string())
  .min(1, { message: 'expected a command and its arguments, e.g. [borg, extract, "::{set}"]' });

/** Any other backup tool, run as a command that restores a set into scratch. */
export const commandSourceConfigSchema = z
  .strictObject({
    kind: z.literal('command'),
    restore: argvSchema.describe(
      "The restore command as a list of arguments (never a shell string), run in scratch. {scratch} and {set} are replaced inside each argument, e.g. [tar, -xf, '{set}', -C, '{scratch}'].",
    ),
    sets: z
      .strictObject({
        path: localPathSchema.describe(
          'Glob over backup sets (files or folders); {set} is the matched absolute path. Relative to the config file.',
        ),
      })
      .optional()
      .describe('Find sets by glob.'),
    list: argvSchema
      .optional()
      .describe(
        'Or a command printing one set id per line, or a JSON array of ids or of { id, time?, size? }; {set} is the id.',
      ),
    select: selectSchema,
    env: z
      .record(z.string(), z.string())
      .default({})
      .describe('Environment for the commands; values may be ${env:NAME} references.'),
    timeout: durationSchema
      .optional()
      .describe('Kill the command (and its children) after this long; the restore check fails.'),
    unreachableExitCodes: z
      .array(z.number().int().min(1).max(255))
      .default([])
      .describe(
        'Exit codes of the restore command that mean it could not reach the backup (no repository, wrong credentials, server down): the run is then an error, not a failure. Any other non-zero exit means the backup was reached and does not restore: the run fails as damaged.',
      ),
  })
  .superRefine((config, ctx) => {
    if ((config.sets === undefined) === (config.list === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['sets'],
        message: 'expected exactly one of sets: { path: <glob> } or list: [command...]',
      });
    }
  })
  .describe(
    'Backup sets restored by any command line (borg, a vendor CLI…); the usual checks then run on what it left in scratch.',
  );

export type CommandSourceConfig = z.output<typeof commandSourceConfigSchema>;

/** The config side of the command source: its schema and the paths it reads, without its restore code. */
export const commandSourceConfigKind = defineSourceConfigKind({
  kind: 'command',
  configSchema: commandSourceConfigSchema,
  localPaths(config, context) {
    return config.sets ? [globBase(config.sets.path, context.configDir)] : [];
  },
});

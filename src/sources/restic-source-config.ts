import path from 'node:path';
import { z } from 'zod';
import { localPathSchema } from '../model/local-path.js';
import { durationSchema } from '../model/duration.js';
import { selectSchema } from './set-selection.js';
import { defineSourceConfigKind } from './source-kind.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Set by the source itself from `repository`/`password`/`passwordFile`; a second route would be ambiguous. */
const RESERVED_ENV = [
  'RESTIC_REPOSITORY',
  'RESTIC_REPOSITORY_FILE',
  'RESTIC_PASSWORD',
  'RESTIC_PASSWORD_FILE',
  'RESTIC_PASSWORD_COMMAND',
];
const REMOTE_BACKEND = /^(sftp|rest|s3|azure|gs|b2|swift|rclone|opendal|smb):/;
/** A full restic snapshot id. */
export const SNAPSHOT_ID = /^[0-9a-f]{64}$/;

/** True when `restic check --read-data-subset` accepts the value: `5%`, `1/10` or a size like `500M`. */
export function isReadDataSubset(value: string): boolean {
  const part = /^(\d+)\/(\d+)$/.exec(value);
  if (part) return Number(part[1]) >= 1 && Number(part[1]) <= Number(part[2]);
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(value);
  if (percent) return Number(percent[1]) > 0 && Number(percent[1]) <= 100;
  return /^\d+[KMGTkmgt]$/.test(value);
}

/** Restic's snapshot ids are hashes: `latest` means the newest snapshot, as in restic itself. */
const resticSelectSchema = selectSchema
  .transform((policy) => (policy === 'latest' ? 'newest' : policy))
  .refine(
    (policy) => typeof policy === 'string' || !('id' in policy) || SNAPSHOT_ID.test(policy.id),
    {
      message:
        'expected the full 64-character snapshot id (the `id` field of `restic snapshots --json`)',
    },
  )
  .describe(
    'How to pick the snapshot: latest or newest (the most recent snapshot time), oldest, random, {random: {within: 7d}} or {id: <full snapshot id>}.',
  );

/** The repository's folder on this machine, or null for a remote backend. */
export function localRepositoryPath(repository: string, configDir: string): string | null {
  if (REMOTE_BACKEND.test(repository)) return null;
  return path.resolve(configDir, repository.replace(/^local:/, ''));
}

/** A backup set is a snapshot in a restic repository, read with the restic binary. */
export const resticSourceConfigSchema = z
  .strictObject({
    kind: z.literal('restic'),
    repository: localPathSchema.describe(
      'Repository location as restic takes it: a local path (relative to the config file), sftp:…, rest:…, s3:…, b2:…, azure:…, gs:…, rclone:…. Credentials in a URL are masked in evidence; prefer `env`.',
    ),
    password: z
      .string()
      .min(1)
      .optional()
      .describe(
        "The repository password, normally '${env:RESTIC_PASSWORD}'; given to restic in its environment, never on its command line. Exactly one of password and passwordFile.",
      ),
    passwordFile: localPathSchema
      .optional()
      .describe(
        'File holding the repository password (relative to the config file). Exactly one of password and passwordFile.',
      ),
    env: z
      .record(
        z.string().regex(ENV_NAME, { message: 'expected an environment variable name' }),
        z.string(),
      )
      .optional()
      .describe(
        "Extra environment for restic's backend, e.g. AWS_ACCESS_KEY_ID: '${env:AWS_ACCESS_KEY_ID}'.",
      ),
    binary: localPathSchema
      .default('restic')
      .describe('The restic executable: a name looked up on PATH, or a path.'),
    tags: z
      .array(z.string().min(1))
      .optional()
      .describe('Only snapshots carrying all of these tags.'),
    host: z.string().min(1).optional().describe('Only snapshots taken on this host.'),
    paths: z
      .array(z.string().min(1))
      .optional()
      .describe('Only snapshots whose backed-up paths include all of these (absolute) paths.'),
    select: resticSelectSchema,
    timeout: durationSchema
      .prefault('6h')
      .describe('Stop any single restic command after this long (default 6h).'),
    check: z
      .strictObject({
        readDataSubset: z
          .string()
          .refine(isReadDataSubset, {
            message: "expected a percentage like '5%', a part like '1/10' or a size like '500M'",
          })
          .describe("Passed to `restic check --read-data-subset`: '5%', '1/10' or '500M'."),
      })
      .optional()
      .describe(
        "Also run `restic check --read-data-subset=…` after the restore; recorded as the check 'restic-check'. restic check holds an exclusive lock on the repository while it runs (a prune meanwhile would make it report missing packs): backups, forget and prune wait or fail until it ends, so schedule the drill apart from them.",
      ),
    cacheDir: localPathSchema
      .optional()
      .describe(
        "restic's local cache folder (--cache-dir) for listing snapshots and files, relative to the config file; restic's default when absent. The restore itself never uses a cache (--no-cache): it reads everything from the repository, as a restore on a new machine would.",
      ),
  })
  .superRefine((config, ctx) => {
    if ((config.password === undefined) === (config.passwordFile === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [config.password === undefined ? 'password' : 'passwordFile'],
        message:
          config.password === undefined
            ? 'missing; expected password or passwordFile'
            : 'expected only one of password and passwordFile',
      });
    }
    for (const name of Object.keys(config.env ?? {})) {
      if (RESERVED_ENV.includes(name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['env', name],
          message: `set by the source from repository/password/passwordFile; remove it from env`,
        });
      }
    }
  })
  .describe(
    'Backup sets are snapshots in a restic repository (restic 0.14 or newer on PATH or at `binary`).',
  );

export type ResticSourceConfig = z.output<typeof resticSourceConfigSchema>;

/** The config side of the restic source: its schema and the paths it reads, without its restore code. */
export const resticSourceConfigKind = defineSourceConfigKind({
  kind: 'restic',
  configSchema: resticSourceConfigSchema,
  localPaths(config, context) {
    const local = localRepositoryPath(config.repository, context.configDir);
    return local === null ? [] : [local];
  },
});

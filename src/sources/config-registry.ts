import { z } from 'zod';
import { KindRegistry } from '../model/registry.js';
import { commandSourceConfigKind } from './command-source-config.js';
import { directorySourceConfigKind } from './directory-source-config.js';
import { evidenceBackupSourceConfigKind } from './evidence-backup-source-config.js';
import { postgresSourceConfigKind } from './postgres-source-config.js';
import { resticSourceConfigKind } from './restic-source-config.js';
import { s3SourceConfigKind } from './s3-source-config.js';
import { tarSourceConfigKind } from './tar-source-config.js';
import type { SourceConfigKind } from './source-kind.js';

/**
 * The config side of every source kind: what `validate`, the config schema and the scratch
 * guard need. The restore code of each kind is in registry.ts, loaded only by what restores.
 */
const KINDS = [
  directorySourceConfigKind,
  tarSourceConfigKind,
  s3SourceConfigKind,
  resticSourceConfigKind,
  postgresSourceConfigKind,
  commandSourceConfigKind,
  evidenceBackupSourceConfigKind,
] as const;

const registry = new KindRegistry<SourceConfigKind>(
  'source',
  KINDS as unknown as readonly SourceConfigKind[],
);

export const sourceKindNames: readonly string[] = registry.names;

/** The `source:` block of a drill: one of the registered kinds, told apart by `kind`. */
export const sourceConfigSchema = z
  .discriminatedUnion(
    'kind',
    KINDS.map((kind) => kind.configSchema) as unknown as [
      (typeof KINDS)[number]['configSchema'],
      ...(typeof KINDS)[number]['configSchema'][],
    ],
  )
  .describe(`Where the backups are. kind: ${sourceKindNames.join(', ')}.`);

export type SourceConfig = z.output<typeof sourceConfigSchema>;

/** Local paths the source reads (for the scratch guard). */
export function sourceLocalPaths(config: SourceConfig, configDir: string): string[] {
  return registry.get(config.kind).localPaths?.(config as never, { configDir }) ?? [];
}

import { z } from 'zod';
import { KindRegistry } from '../model/registry.js';
import { commandSourceKind } from './command-source.js';
import { directorySourceKind } from './directory-source.js';
import { evidenceBackupSourceKind } from './evidence-backup-source.js';
import { postgresSourceKind } from './postgres-source.js';
import { resticSourceKind } from './restic-source.js';
import { s3SourceKind } from './s3-source.js';
import { tarSourceKind } from './tar-source.js';
import type { SourceContext, SourceKind } from './source-kind.js';
import type { RestoreSource } from './restore-source.js';

/** Every source kind restore-drill knows; adding one is a module plus a line here. */
const KINDS = [
  directorySourceKind,
  tarSourceKind,
  s3SourceKind,
  resticSourceKind,
  postgresSourceKind,
  commandSourceKind,
  evidenceBackupSourceKind,
] as const;

const registry = new KindRegistry<SourceKind>('source', KINDS as unknown as readonly SourceKind[]);

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

export function getSourceKind(kind: string): SourceKind {
  return registry.get(kind);
}

export function createSource(config: SourceConfig, context: SourceContext): RestoreSource {
  return getSourceKind(config.kind).create(config as never, context);
}

/** Local paths the source reads (for the scratch guard). */
export function sourceLocalPaths(config: SourceConfig, configDir: string): string[] {
  return getSourceKind(config.kind).localPaths?.(config as never, { configDir }) ?? [];
}

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
import { sourceKindNames, type SourceConfig } from './config-registry.js';

export {
  sourceConfigSchema,
  sourceKindNames,
  sourceLocalPaths,
  type SourceConfig,
} from './config-registry.js';

/**
 * Every source kind restore-drill knows, with its restore code; adding one is a module
 * plus a line here and one in config-registry.ts (its `-source-config.ts` side).
 */
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

// A kind on one side only would validate but not restore, or the reverse.
if (registry.names.join() !== sourceKindNames.join())
  throw new Error(
    `source kinds differ: restore code for ${registry.names.join(', ')}, config for ${sourceKindNames.join(', ')}`,
  );

export function getSourceKind(kind: string): SourceKind {
  return registry.get(kind);
}

export function createSource(config: SourceConfig, context: SourceContext): RestoreSource {
  return getSourceKind(config.kind).create(config as never, context);
}

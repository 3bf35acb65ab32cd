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
import type { SourceConfig } from './config-registry.js';

/**
 * The restore code of every kind config-registry.ts knows, by name: adding a kind is its
 * `<kind>-source-config.ts` in that list and its `<kind>-source.ts` here. A kind on one side
 * only does not compile.
 */
const KINDS = {
  directory: directorySourceKind,
  tar: tarSourceKind,
  s3: s3SourceKind,
  restic: resticSourceKind,
  postgres: postgresSourceKind,
  command: commandSourceKind,
  'evidence-backup': evidenceBackupSourceKind,
} satisfies Record<SourceConfig['kind'], { readonly kind: string }>;

const registry = new KindRegistry<SourceKind>(
  'source',
  Object.values(KINDS) as unknown as readonly SourceKind[],
);

export function getSourceKind(kind: string): SourceKind {
  return registry.get(kind);
}

export function createSource(config: SourceConfig, context: SourceContext): RestoreSource {
  return getSourceKind(config.kind).create(config as never, context);
}

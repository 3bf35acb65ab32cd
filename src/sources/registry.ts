import { z } from 'zod';
import { commandSourceKind } from './command-source.js';
import { directorySourceKind } from './directory-source.js';
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
] as const;

function indexKinds(kinds: readonly SourceKind[]): ReadonlyMap<string, SourceKind> {
  const byName = new Map<string, SourceKind>();
  for (const kind of kinds) {
    if (byName.has(kind.kind)) throw new Error(`source kind '${kind.kind}' is registered twice`);
    byName.set(kind.kind, kind);
  }
  return byName;
}

const byName = indexKinds(KINDS as unknown as readonly SourceKind[]);

export const sourceKindNames: readonly string[] = [...byName.keys()];

/** The `source:` block of a drill: one of the registered kinds, told apart by `kind`. */
export const sourceConfigSchema = z
  .discriminatedUnion(
    'kind',
    KINDS.map((kind) => kind.configSchema) as unknown as [
      (typeof KINDS)[number]['configSchema'],
      ...(typeof KINDS)[number]['configSchema'][],
    ],
  )
  .describe(`Where the backups are. kind: ${[...byName.keys()].join(', ')}.`);

export type SourceConfig = z.output<typeof sourceConfigSchema>;

export function getSourceKind(kind: string): SourceKind {
  const found = byName.get(kind);
  if (!found)
    throw new Error(
      `'${kind}' is not a source kind; expected one of ${sourceKindNames.map((n) => `'${n}'`).join(', ')}`,
    );
  return found;
}

export function createSource(config: SourceConfig, context: SourceContext): RestoreSource {
  return getSourceKind(config.kind).create(config as never, context);
}

/** Local paths the source reads (for the scratch guard). */
export function sourceLocalPaths(config: SourceConfig, configDir: string): string[] {
  return getSourceKind(config.kind).localPaths?.(config as never, { configDir }) ?? [];
}

import type { z } from 'zod';
import type { EvidenceDb } from '../evidence/database.js';
import type { Logger } from '../log/logger.js';
import type { RestoreSource } from './restore-source.js';

/** What a source needs from its surroundings. */
export interface SourceContext {
  /** The config file's folder: relative paths in a source's config resolve from it. */
  configDir: string;
  log: Logger;
  /** The live evidence store, for a source that compares a backup of it with it (evidence-backup). */
  evidence?: EvidenceDb | undefined;
}

/**
 * One kind of source, as registered: its config schema (an object whose `kind`
 * is a literal) and a factory. The config schema and JSON Schema are built from these.
 */
export interface SourceKind<
  Schema extends z.ZodObject<{ kind: z.ZodLiteral<string> }> = z.ZodObject<{
    kind: z.ZodLiteral<string>;
  }>,
> {
  readonly kind: string;
  readonly configSchema: Schema;
  create(config: z.output<Schema>, context: SourceContext): RestoreSource;
  /**
   * Paths on this machine the source reads, so the scratch guard can refuse a scratch
   * root that overlaps them. Empty for remote sources.
   */
  localPaths?(config: z.output<Schema>, context: Pick<SourceContext, 'configDir'>): string[];
}

/** Declares a kind with its types inferred from the schema. */
export function defineSourceKind<Schema extends z.ZodObject<{ kind: z.ZodLiteral<string> }>>(
  kind: SourceKind<Schema>,
): SourceKind<Schema> {
  return kind;
}

/**
 * The config side of a source kind: what validating a config and guarding scratch need.
 * It lives in `<kind>-source-config.ts`, apart from the restore code, so a command that
 * only reads the config never loads a source's dependencies (tar-stream, the evidence store…).
 */
export type SourceConfigKind<
  Schema extends z.ZodObject<{ kind: z.ZodLiteral<string> }> = z.ZodObject<{
    kind: z.ZodLiteral<string>;
  }>,
> = Pick<SourceKind<Schema>, 'kind' | 'configSchema' | 'localPaths'>;

/** Declares the config side of a kind with its types inferred from the schema. */
export function defineSourceConfigKind<Schema extends z.ZodObject<{ kind: z.ZodLiteral<string> }>>(
  kind: SourceConfigKind<Schema>,
): SourceConfigKind<Schema> {
  return kind;
}

import type { z } from 'zod';
import type { RunRecord } from '../evidence/run-record.js';
import type { Check } from './check.js';
import type { ManifestLoader, ManifestPaths } from './manifest-check.js';

/**
 * When a kind's checks run. `restore` judges the restore itself (before the checks
 * the source reports, such as `restic check`), `data` what was restored, `targets`
 * the recovery objectives, last, so the RTO sees every other check's time.
 */
export type CheckPhase = 'restore' | 'data' | 'targets';

/** The order phases run in. */
export const CHECK_PHASES: readonly CheckPhase[] = ['restore', 'data', 'targets'];

/** Where a kind's config sits: `checks.<kind>`, `targets.<kind>`, or nowhere (it always runs). */
export type CheckSection = 'checks' | 'targets' | null;

/**
 * What a check may need from the run beyond the restore outcome every check gets:
 * `manifest` the drill's manifest loader (shared, read once per run), `lastPass` the
 * drill's last passing run (fetched from evidence only when a configured check needs it).
 */
export type CheckNeed = 'manifest' | 'lastPass';

/** What the run provides to a kind when it makes its checks. */
export interface CheckBuild {
  /** Whether another kind is configured for this drill (the manifest check leaves row counts to `tables`). */
  configured(kind: string): boolean;
  /** The drill's manifest, read once and shared; null without `checks.manifest`. */
  manifest: ManifestLoader | null;
  /** The drill's last passing run, when a kind declared the `lastPass` need (undefined: none yet). */
  lastPass: RunRecord | undefined;
  /** `targets.rpo` in milliseconds, for kinds judged against it (achievedRpo); undefined: not set. */
  rpoMs: number | undefined;
}

/**
 * One kind of check, as registered: its config schema, where it runs, what it needs
 * and how it makes its checks. Adding a kind is a module exporting one of these plus
 * a line in checks/registry.ts.
 */
export interface CheckKind<
  Kind extends string = string,
  Section extends CheckSection = CheckSection,
  Schema extends z.ZodType = z.ZodType,
> {
  /** The key in its section (`checks.files`) and, usually, the name its results carry. */
  readonly kind: Kind;
  readonly section: Section;
  /** The schema of `<section>.<kind>`, with `.optional()` or `.default()` as the key allows. */
  readonly configSchema: Schema;
  readonly phase: CheckPhase;
  /** What it needs from the run, given its config. */
  needs?(config: NonNullable<z.output<Schema>>): readonly CheckNeed[];
  /**
   * The manifests it reads, as configured (`checks.manifest`, `records.manifest`): one lying inside
   * the set is restored with every sample and is never counted, compared or flagged as data.
   */
  manifests?(config: NonNullable<z.output<Schema>>): ManifestPaths;
  /** Its checks for one drill (none, one, or one per entry such as `sql`); called only when configured. */
  create(config: NonNullable<z.output<Schema>>, build: CheckBuild): Check[];
  /** Rules across kinds, run on the whole `checks` section (`tables.from: manifest` needs a restore-drill manifest). */
  refine?(checks: Readonly<Record<string, unknown>>, ctx: z.RefinementCtx): void;
}

/** Declares a kind with its types inferred from the schema. */
export function defineCheckKind<
  const Kind extends string,
  const Section extends CheckSection,
  Schema extends z.ZodType,
>(kind: CheckKind<Kind, Section, Schema>): CheckKind<Kind, Section, Schema> {
  return kind;
}

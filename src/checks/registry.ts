import { z } from 'zod';
import type { RunRecord } from '../evidence/run-record.js';
import { KindRegistry } from '../model/registry.js';
import { achievedRpoCheckKind } from './achieved-rpo-check.js';
import { bytesCheckKind } from './bytes-check.js';
import { commandsCheckKind } from './commands-check.js';
import type { Check } from './check.js';
import {
  CHECK_PHASES,
  type CheckBuild,
  type CheckKind,
  type CheckNeed,
  type CheckPhase,
  type CheckSection,
} from './check-kind.js';
import { extraFilesCheckKind } from './extra-files-check.js';
import { filesCheckKind } from './files-check.js';
import { liveCheckKind } from './live-check.js';
import {
  ManifestLoader,
  manifestCheckKind,
  type ManifestCheckConfig,
  type ManifestPaths,
} from './manifest-check.js';
import { restoreCheckKind } from './restore-check.js';
import { rpoCheckKind } from './rpo-check.js';
import { rtoCheckKind } from './rto-check.js';
import { sqlCheckKind } from './sql-check.js';
import { recordsCheckKind } from './records-check.js';
import { tablesCheckKind } from './tables-check.js';

/**
 * Every check kind restore-drill knows; adding one is a module plus a line here.
 * Within a phase, kinds run in this order.
 */
const KINDS = [
  restoreCheckKind,
  manifestCheckKind,
  extraFilesCheckKind,
  filesCheckKind,
  bytesCheckKind,
  tablesCheckKind,
  recordsCheckKind,
  sqlCheckKind,
  commandsCheckKind,
  liveCheckKind,
  achievedRpoCheckKind,
  rpoCheckKind,
  rtoCheckKind,
] as const;

const registry = new KindRegistry<CheckKind>('check', KINDS as unknown as readonly CheckKind[]);

export const checkKindNames: readonly string[] = registry.names;

/** Where a kind's config sits (`checks`, `targets`), or null for a kind that always runs or is unknown. */
export function checkKindSection(kind: string): CheckSection {
  return registry.kinds.find((each) => each.kind === kind)?.section ?? null;
}

type Kinds = (typeof KINDS)[number];
/** The zod shape of one section: each of its kinds' schema under the kind's key. */
type SectionShape<Section extends CheckSection> = {
  [K in Kinds as K['section'] extends Section ? K['kind'] : never]: K['configSchema'];
};

function sectionShape<Section extends Exclude<CheckSection, null>>(
  section: Section,
): SectionShape<Section> {
  return Object.fromEntries(
    registry.kinds
      .filter((kind) => kind.section === section)
      .map((kind) => [kind.kind, kind.configSchema]),
  ) as SectionShape<Section>;
}

/** What to verify after a restore; `{}` leaves the restore itself as the only check. */
export const checksSchema = z
  .strictObject(sectionShape('checks'))
  .superRefine((checks, ctx) => {
    for (const kind of registry.kinds) kind.refine?.(checks, ctx);
  })
  .describe('Checks run over what was restored.');

/** Recovery objectives the drill is held to. */
export const targetsSchema = z
  .strictObject(sectionShape('targets'))
  .describe('Recovery objectives.');

/** `checks:` of a drill, parsed. */
export type ChecksConfig = z.output<typeof checksSchema>;
/** `targets:` of a drill, parsed (durations in milliseconds). */
export type TargetsConfig = z.output<typeof targetsSchema>;

/** A drill's configured kinds with their config, in run order. */
function configuredKinds(
  checks: ChecksConfig,
  targets: TargetsConfig | undefined,
): { kind: CheckKind; config: unknown }[] {
  const sections: Record<Exclude<CheckSection, null>, Readonly<Record<string, unknown>>> = {
    checks,
    targets: targets ?? {},
  };
  const configured: { kind: CheckKind; config: unknown }[] = [];
  for (const kind of registry.kinds) {
    const config = kind.section === null ? undefined : sections[kind.section][kind.kind];
    if (kind.section === null || config !== undefined) configured.push({ kind, config });
  }
  return configured;
}

/** What a drill's configured checks need from the run, so the run fetches only that. */
export function checkNeeds(
  checks: ChecksConfig,
  targets: TargetsConfig | undefined,
): ReadonlySet<CheckNeed> {
  const needs = new Set<CheckNeed>();
  for (const { kind, config } of configuredKinds(checks, targets))
    for (const need of kind.needs?.(config as never) ?? []) needs.add(need);
  return needs;
}

/** Every manifest a drill's configured checks read (`checks.manifest`, `records.manifest`…). */
export function checkManifests(
  checks: ChecksConfig,
  targets: TargetsConfig | undefined,
): ManifestPaths {
  return configuredKinds(checks, targets).flatMap(
    ({ kind, config }) => kind.manifests?.(config as never) ?? [],
  );
}

/** A drill's checks, grouped by the phase they run in. */
export type PhasedChecks = Record<CheckPhase, Check[]>;

/**
 * The checks for one drill, by phase, each phase in registry order: restore; then
 * manifest, extraFiles (only with a manifest), files, bytes, tables, sql:<name>…; then
 * rpo and rto. The instances keep no state between runs and can be reused.
 */
export function buildPhasedChecks(
  checks: ChecksConfig,
  targets: TargetsConfig | undefined,
  provided: { lastPass?: RunRecord | undefined } = {},
): PhasedChecks {
  const configured = configuredKinds(checks, targets);
  const manifestConfig = checks.manifest as ManifestCheckConfig | undefined;
  const build: CheckBuild = {
    configured: (name) => configured.some(({ kind }) => kind.kind === name),
    manifest: manifestConfig === undefined ? null : new ManifestLoader(manifestConfig),
    lastPass: provided.lastPass,
    rpoMs: targets?.rpo,
  };
  const phased: PhasedChecks = { restore: [], data: [], targets: [] };
  for (const { kind, config } of configured)
    phased[kind.phase].push(...kind.create(config as never, build));
  return phased;
}

/** The checks for one drill in the order they run (see buildPhasedChecks). */
export function buildChecks(
  checks: ChecksConfig,
  targets: TargetsConfig | undefined,
  provided: { lastPass?: RunRecord | undefined } = {},
): Check[] {
  const phased = buildPhasedChecks(checks, targets, provided);
  return CHECK_PHASES.flatMap((phase) => phased[phase]);
}

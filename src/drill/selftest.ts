import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildPhasedChecks, checkKindSection, checkNeeds } from '../checks/registry.js';
import type { Check, CheckContext } from '../checks/check.js';
import type { CheckResult } from '../model/check-result.js';
import type { SelftestDamage, SelftestRecord } from '../evidence/selftests.js';
import { countRuns, lastPassingRun } from '../evidence/runs.js';
import { guardConfigScratchRoot } from './scratch-guard.js';
import { createScratchDir, removeScratchDir } from '../scratch/scratch-dir.js';
import { DirectorySource } from '../sources/directory-source.js';
import type { RestoreOutcome } from '../sources/restore-source.js';
import { countTables } from '../sources/postgres/table-counts.js';
import { deriveSeed } from '../sampling/seeded-random.js';
import { VERSION } from '../version.js';
import type { DrillRun, RunDrillRequest } from './drill-run.js';
import { timed } from './drill-run.js';
import { cleanupPhase, restorePhase, samplePhase, selectPhase, verifyPhase } from './phases.js';
import { drillConfigHash } from './run-drill.js';
import {
  applicableFileDamages,
  damageCopy,
  damageDatabase,
  DAMAGE_LABELS,
  type AppliedDamage,
  type DamageKind,
} from './selftest-damage.js';

/** What a selftest needs: a drill run's request without the parts only a recorded run has. */
export type SelftestRequest = Pick<
  RunDrillRequest,
  'drill' | 'config' | 'configDir' | 'db' | 'log' | 'signal' | 'createSource' | 'now'
>;

/**
 * Where the undamaged restore lands: a folder named as the selftest's own scratch folder
 * (`<drill>-<UTC stamp>-<id>`), so a scratch database made from it is named for this
 * selftest and never collides with another's.
 */
function restoreDirOf(selftestDir: string): string {
  return path.join(selftestDir, path.basename(selftestDir));
}

/** The row counts a database damage is judged with are recounted this long at most. */
const RECOUNT_TIMEOUT_MS = 60 * 60 * 1000;

/** What would have caught each kind: the hint a finding gives. */
const HINTS: Readonly<Record<DamageKind, { files: string; database?: string }>> = {
  'flipped-byte': { files: 'add checks.manifest (checksums written at backup time)' },
  'truncated-file': { files: 'add checks.manifest or checks.bytes' },
  'deleted-file': { files: 'add checks.manifest or checks.files' },
  'added-file': { files: 'add checks.manifest with checks.extraFiles: fail' },
  'changed-link-target': {
    files: 'use a manifest that records links (checks.manifest with format: restore-drill)',
  },
  'deleted-rows': {
    files: 'add checks.records (record counts from the manifest)',
    database: 'add checks.tables',
  },
  'updated-value': {
    files: 'add checks.manifest (checksums written at backup time)',
    database:
      'add checks.tables with a manifest holding table digests (restore-drill manifest --database)',
  },
};

/**
 * Proves the drill's checks bite: restores the drill's sample as a run would, checks the
 * undamaged restore passes, then, for each kind of damage that applies, damages a copy
 * in scratch (or the scratch database, put back after) and runs the drill's checks on it.
 * A kind no check fails on is a finding. Nothing outside the selftest's scratch folder and
 * scratch database is touched; both are removed at the end. Never throws for the drill's
 * own failure: the record says `error` with the cause.
 */
export async function runSelftest(request: SelftestRequest): Promise<SelftestRecord> {
  const now = request.now ?? (() => new Date());
  const selftestId = randomUUID();
  const { drill } = request;
  const log = request.log.child({ drill: drill.name, selftestId });
  const startedAt = now();
  const t0 = performance.now();
  let selftestDir: string | null = null;
  let scratchError: unknown = null;
  try {
    const root = await guardConfigScratchRoot(request.config, request.configDir);
    selftestDir = await createScratchDir(root, drill.name, selftestId, { now: startedAt });
    await mkdir(restoreDirOf(selftestDir), { mode: 0o700 });
  } catch (error) {
    scratchError = error;
  }
  const run = drillRunFor(request, selftestId, startedAt, selftestDir, scratchError, log);
  const damages: SelftestDamage[] = [];
  let cause: string | null = null;
  try {
    if (selftestDir === null) throw scratchError;
    for (const phase of [selectPhase, samplePhase, restorePhase, verifyPhase])
      await timed(run, phase);
    if (run.verdict !== 'passed') {
      cause = `the undamaged restore does not pass (${run.cause ?? run.verdict}): a selftest needs a drill that passes`;
    } else {
      damages.push(...(await damageEach(run, selftestDir)));
      if (damages.length === 0) cause = 'no kind of damage applies to what this drill restores';
    }
  } catch (error) {
    cause = `selftest could not complete: ${firstLine(error)}`;
    log.warn({ cause }, 'selftest could not complete');
  } finally {
    await timed(run, cleanupPhase).catch(() => undefined);
    if (selftestDir !== null)
      await removeScratchDir(selftestDir).catch((error: unknown) =>
        log.warn({ err: error, scratchDir: selftestDir }, 'could not remove the selftest folder'),
      );
  }
  const verdict =
    cause !== null ? 'error' : damages.every((damage) => damage.detected) ? 'passed' : 'failed';
  return {
    kind: 'selftest',
    runId: selftestId,
    drill: drill.name,
    verdict,
    cause,
    startedAt: startedAt.toISOString(),
    finishedAt: now().toISOString(),
    durationMs: Math.round(performance.now() - t0),
    set: run.set && { id: run.set.id, path: run.set.path },
    sampled: run.items !== null,
    damages,
    host: os.hostname(),
    version: VERSION,
    configHash: drillConfigHash(drill),
  };
}

/** The run the normal phases fill in; it is never recorded as a run. */
function drillRunFor(
  request: SelftestRequest,
  selftestId: string,
  startedAt: Date,
  selftestDir: string | null,
  scratchError: unknown,
  log: RunDrillRequest['log'],
): DrillRun {
  const { drill } = request;
  return {
    request: { ...request, trigger: 'manual' },
    runId: selftestId,
    drill,
    log,
    startedAt,
    scheduledFor: null,
    configHash: drillConfigHash(drill),
    host: os.hostname(),
    seed: deriveSeed(drill.name, startedAt.toISOString()),
    signal: request.signal,
    timeout: null,
    scratchDir: selftestDir === null ? null : restoreDirOf(selftestDir),
    scratchError,
    source: null,
    set: null,
    items: null,
    manifestsInSet: new Set(),
    sample: null,
    cover: null,
    space: null,
    watch: null,
    outcome: null,
    failedCommands: [],
    checks: [],
    verdict: 'passed',
    cause: null,
    scratchKept: false,
    phaseMs: {},
  };
}

/** Every applicable kind of damage, each made and judged in turn. */
async function damageEach(run: DrillRun, selftestDir: string): Promise<SelftestDamage[]> {
  const outcome = run.outcome as RestoreOutcome;
  const restoreDir = run.scratchDir as string;
  const checks = await checksOf(run);
  const results: SelftestDamage[] = [];
  const database = outcome.database;
  if (database !== undefined) {
    if (database.damageSession === undefined || outcome.tables === undefined) return [];
    const session = await database.damageSession();
    try {
      for (const kind of ['deleted-rows', 'updated-value'] as const) {
        run.signal?.throwIfAborted();
        const made = await damageDatabase(kind, session, outcome.tables, run.items);
        if (made === null) continue;
        try {
          const tables = await database.readOnly(
            (query) => countTables(query, { only: run.items, signal: run.signal }),
            { statementTimeoutMs: RECOUNT_TIMEOUT_MS },
          );
          const damaged: AppliedDamage = {
            kind,
            target: made.target,
            outcome: { ...outcome, tables },
          };
          results.push(await judge(run, checks, damaged, restoreDir, 'database'));
        } finally {
          await made.undo();
        }
      }
    } finally {
      await session.close();
    }
    return results;
  }
  const { manifestsInSet } = run;
  const copier = new DirectorySource(
    { kind: 'directory', path: restoreDir, select: { mode: 'latest' } } as never,
    { configDir: run.request.configDir, log: run.log },
  );
  for (const kind of applicableFileDamages(outcome, manifestsInSet)) {
    run.signal?.throwIfAborted();
    const copyDir = path.join(selftestDir, `damaged-${kind}`);
    await mkdir(copyDir, { mode: 0o700 });
    try {
      const copied = await copier.restore(
        { id: restoreDir, path: restoreDir, size: null, mtime: null, hash: null },
        copyDir,
        { items: null, signal: run.signal, log: run.log },
      );
      // The copy stands for the restore: what the source itself found stays as it was.
      const copy: RestoreOutcome = { ...outcome, files: copied.files, links: copied.links ?? [] };
      const damaged = await damageCopy(kind, copyDir, copy, manifestsInSet);
      if (damaged !== null) results.push(await judge(run, checks, damaged, copyDir, 'files'));
    } finally {
      await removeScratchDir(copyDir);
    }
  }
  return results;
}

/** The drill's configured checks, built as its run builds them. */
async function checksOf(run: DrillRun): Promise<Check[]> {
  const { drill } = run;
  const needs = checkNeeds(drill.checks, drill.targets);
  const lastPass = needs.has('lastPass')
    ? await lastPassingRun(run.request.db, drill.name)
    : undefined;
  const phased = buildPhasedChecks(drill.checks, drill.targets, { lastPass });
  return [...phased.restore, ...phased.data];
}

/** Runs the checks on one damaged restore: detected when any of them fails (or breaks) on it. */
async function judge(
  run: DrillRun,
  checks: readonly Check[],
  damage: AppliedDamage,
  scratchDir: string,
  where: 'files' | 'database',
): Promise<SelftestDamage> {
  const context: CheckContext = {
    set: run.set!,
    scratchDir,
    outcome: damage.outcome,
    sampled: run.items !== null,
    sample: run.items,
    manifestsInSet: run.manifestsInSet,
    startedAt: run.startedAt,
    elapsedMs: () => 0,
    signal: run.signal,
  };
  const by: string[] = [];
  for (const check of checks) {
    run.signal?.throwIfAborted();
    let results: CheckResult[];
    try {
      results = await check.run(context);
    } catch {
      // A check that breaks on the damage stops the run too: the drill would notice.
      results = [{ name: check.name, verdict: 'failed', expected: null, actual: null, detail: '' }];
    }
    for (const result of results)
      if (result.verdict === 'failed' && !by.includes(configName(result.name)))
        by.push(configName(result.name));
  }
  const detected = by.length > 0;
  const hint =
    damage.kind === 'added-file' && run.drill.checks.manifest !== undefined
      ? 'set checks.extraFiles: fail (the manifest is there; extra files are let through)'
      : (HINTS[damage.kind][where] ?? HINTS[damage.kind].files);
  run.log.info(
    { damage: damage.kind, target: damage.target, detected, by },
    'selftest damage judged',
  );
  return {
    kind: damage.kind,
    target: damage.target,
    detected,
    by,
    ...(detected
      ? {}
      : { finding: `this drill would not notice ${DAMAGE_LABELS[damage.kind]}: ${hint}` }),
  };
}

/** A check result's name as the config names it: `checks.manifest`, `checks.sql:orders`, `restore`. */
function configName(name: string): string {
  const section = checkKindSection(name.split(':')[0] ?? name);
  return section === null ? name : `${section}.${name}`;
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]?.trim() ?? text;
}

/**
 * Whether a selftest follows the run just recorded: with `selftest.every: N`, after every
 * Nth recorded run of the drill (counted in the evidence, so replicas and restarts agree).
 */
export async function selftestDue(
  db: RunDrillRequest['db'],
  drill: RunDrillRequest['drill'],
): Promise<boolean> {
  const every = drill.selftest?.every;
  if (every === undefined) return false;
  const runs = await countRuns(db, { drill: [drill.name] });
  return runs > 0 && runs % every === 0;
}

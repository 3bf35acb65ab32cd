import { hostname } from 'node:os';
import type { Config } from '../config/schema.js';
import type { EvidenceDb } from '../evidence/database.js';
import { EvidenceError, reasonOf } from '../evidence/errors.js';
import type { RunRecord } from '../evidence/run-record.js';
import { listSpool } from '../evidence/spool.js';
import { findUnfinishedRuns, recordRunResult, type RunStart } from '../evidence/runs.js';
import type { Logger } from '../log/logger.js';
import { isScratchDirOf, removeScratchDir } from '../scratch/scratch-dir.js';
import { killProcessesIn } from '../scratch/orphans.js';
import type { RunLeases } from './run-leases.js';
import { formatCause } from '../model/causes.js';

/** A run closed as `aborted` because its process was gone. */
export interface RecoveredRun {
  runId: string;
  drill: string;
  host: string;
  pid: number;
  scratchDir: string | null;
  /** Whether its scratch folder was removed (false: none recorded, or not removable here). */
  scratchRemoved: boolean;
}

export interface RecoverOptions {
  db: EvidenceDb;
  leases: RunLeases;
  /** The current config: names the source kind of the aborted runs' drills. */
  config: Pick<Config, 'drills'>;
  log: Logger;
  /** This host's spool: a run whose result waits there finished, and is never closed as aborted. */
  spoolDir?: string | undefined;
  now?: () => Date;
}

/**
 * Closes the runs that processes left without a result when they died: each gets
 * an `aborted` result ("process P on H died before the run finished") and its
 * scratch folder is removed. A run counts as dead when no live process owns it:
 * on embedded PGlite (one process only) every run this process is not running;
 * on PostgreSQL every run whose lease (an advisory lock) nobody holds, unless a
 * live process of its pid runs on this very host. Safe on several replicas at
 * once: a second result for the same run is refused by the store and ignored here.
 */
export async function recoverAbandonedRuns(options: RecoverOptions): Promise<RecoveredRun[]> {
  const { db, leases, log } = options;
  const now = options.now ?? (() => new Date());
  const unfinished = await findUnfinishedRuns(db);
  if (unfinished.length === 0) return [];
  const alive = await leases.alive(unfinished, db);
  let spooled: Set<string>;
  try {
    spooled = new Set(
      options.spoolDir === undefined
        ? []
        : (await listSpool(options.spoolDir)).runs.map((run) => run.runId),
    );
  } catch (error) {
    // A run whose result waits in a spool we cannot read finished: closing it as aborted
    // would refuse that result later. Leave every unfinished run open until the spool reads.
    log.warn(
      { spool: options.spoolDir, err: reasonOf(error), unfinished: unfinished.length },
      'cannot read the spool: runs left without a result stay open until it can be read',
    );
    return [];
  }
  const recovered: RecoveredRun[] = [];
  for (const start of unfinished) {
    if (alive.has(start.runId) || spooled.has(start.runId)) continue;
    const record = abortedRecord(start, options.config, now());
    try {
      await recordRunResult(db, record, []);
    } catch (error) {
      // It finished, or another replica closed it, between the two reads: nothing to do.
      if (error instanceof EvidenceError && error.code === 'duplicate-result') continue;
      throw error;
    }
    const scratchRemoved = await removeLeftover(start, log);
    log.warn(
      {
        runId: start.runId,
        drill: start.drill,
        host: start.host,
        pid: start.pid,
        scratchDir: start.scratchDir,
        scratchRemoved,
      },
      record.cause ?? 'run aborted',
    );
    recovered.push({
      runId: start.runId,
      drill: start.drill,
      host: start.host,
      pid: start.pid,
      scratchDir: start.scratchDir,
      scratchRemoved,
    });
  }
  return recovered;
}

/** The result of a run whose process died: what its start row knows, nothing restored. */
function abortedRecord(
  start: RunStart,
  config: Pick<Config, 'drills'>,
  finishedAt: Date,
): RunRecord {
  const drill = config.drills.find((candidate) => candidate.name === start.drill);
  return {
    runId: start.runId,
    drill: start.drill,
    verdict: 'aborted',
    cause: formatCause(
      'aborted',
      `process ${start.pid} on ${start.host} died before the run finished (recorded by process ${process.pid} on ${hostname()})`,
    ),
    trigger: start.trigger,
    scheduledFor: start.scheduledFor?.toISOString() ?? null,
    replayOf: start.replayOf,
    startedAt: start.startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    sourceKind: drill?.source.kind ?? 'unknown',
    set: null,
    sample: null,
    restored: { files: 0, bytes: 0 },
    itemsDigest: null,
    checks: [],
    timings: {
      selectMs: 0,
      restoreMs: 0,
      verifyMs: 0,
      cleanupMs: 0,
      totalMs: Math.max(0, finishedAt.getTime() - start.startedAt.getTime()),
    },
    commands: [],
    targets: { rtoMs: drill?.targets?.rto ?? null, rpoMs: drill?.targets?.rpo ?? null },
    host: start.host,
    version: start.version,
    configHash: start.configHash,
    scratchDir: start.scratchDir,
    scratchKept: false,
  };
}

/**
 * Removes the dead run's scratch folder, but only a folder named as that run's
 * (the path comes from the database: never delete anything else on its word).
 * On another host's run the path usually does not exist here; that host's sweep removes it.
 */
async function removeLeftover(start: RunStart, log: Logger): Promise<boolean> {
  if (start.scratchDir === null) return false;
  if (!isScratchDirOf(start.scratchDir, start.runId)) {
    log.warn(
      { runId: start.runId, scratchDir: start.scratchDir },
      'recorded scratch folder is not named as this run’s; left alone',
    );
    return false;
  }
  try {
    // Its restore command may still run, orphaned: it would write into the folder again.
    const killed = await killProcessesIn(start.scratchDir);
    if (killed.length > 0)
      log.warn(
        { runId: start.runId, scratchDir: start.scratchDir, pids: killed },
        'killed processes the aborted run left working in its scratch folder',
      );
    await removeScratchDir(start.scratchDir);
    return true;
  } catch (error) {
    log.warn(
      { runId: start.runId, scratchDir: start.scratchDir, err: reasonOf(error) },
      'could not remove the scratch folder of an aborted run',
    );
    return false;
  }
}

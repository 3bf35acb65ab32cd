import path from 'node:path';
import { findUnfinishedRuns } from '../src/evidence/runs.js';
import { spoolDirFor } from '../src/evidence/spool.js';
import type { PeriodicJob } from '../src/schedule/job.js';
import { recoverAbandonedRuns, type RecoveredRun } from '../src/schedule/recovery.js';
import { guardConfigScratchRoot } from '../src/drill/scratch-guard.js';
import { sweepScratchRoot, type SweepResult } from '../src/scratch/sweep.js';

/** What one sweep did. */
export interface ScratchSweepResult extends SweepResult {
  /** Runs of dead processes closed as aborted before sweeping. */
  recovered: RecoveredRun[];
}

/**
 * The scratch sweep: first closes runs whose process died (on PostgreSQL, those of
 * other replicas too), then removes scratch folders older than
 * `daemon.scratchSweep.olderThan` (default `scratch.keepFor`) that belong to no
 * unfinished run — crash leftovers, interrupted runs' partial folders and folders
 * kept by `scratch.keep`. The daemon runs it on its schedule, `run` before its drills.
 */
export const scratchSweepJob: PeriodicJob<ScratchSweepResult> = {
  name: 'scratch-sweep',
  schedule: (config) => config.daemon.scratchSweep.schedule,
  async run({ scheduledFor }, { loaded, db, log, leases }) {
    const recovered = await recoverAbandonedRuns({
      db,
      leases,
      config: loaded.config,
      log,
      spoolDir: spoolDirFor(loaded.config, loaded.dir),
    });
    const root = await guardConfigScratchRoot(loaded.config, loaded.dir);
    const unfinished = await findUnfinishedRuns(db);
    const spare = new Set(
      unfinished.flatMap((run) => (run.scratchDir ? [path.resolve(run.scratchDir)] : [])),
    );
    const result = await sweepScratchRoot(root, {
      olderThanMs: loaded.config.daemon.scratchSweep.olderThan ?? loaded.config.scratch.keepFor,
      spare,
      log,
      now: scheduledFor,
    });
    // Quiet when there was nothing to do: `run` sweeps before every invocation.
    const acted = result.removed.length + result.failed.length + recovered.length > 0;
    log[acted ? 'info' : 'debug'](
      {
        root,
        removed: result.removed.length,
        spared: result.spared.length,
        failed: result.failed.length,
        recovered: recovered.length,
      },
      'scratch sweep done',
    );
    return { recovered, ...result };
  },
};

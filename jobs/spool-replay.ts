import { replaySpool, spoolDirFor, type ReplayOutcome } from '../src/evidence/spool.js';
import type { PeriodicJob } from '../src/schedule/job.js';

/** Every 30 seconds (six-field cron): a result spooled during an outage reaches the store within a minute of its return. */
const EVERY_30_SECONDS = '*/30 * * * * *';

/**
 * The spool replay: appends the results that waited in this host's spool while
 * the evidence store was unavailable. Safe on several replicas at once: the
 * store takes one result per run.
 */
export const spoolReplayJob: PeriodicJob<ReplayOutcome> = {
  name: 'spool-replay',
  schedule: () => EVERY_30_SECONDS,
  run: (_payload, { loaded, db, log }) =>
    replaySpool(db, spoolDirFor(loaded.config, loaded.dir), log),
};

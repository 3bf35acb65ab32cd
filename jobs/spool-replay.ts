import { createChannels } from '../src/schedule/alerting.js';
import { alertLongSpooledRuns, type SpoolAlertSent } from '../src/schedule/spool-alert.js';
import { reasonOf } from '../src/evidence/errors.js';
import { replaySpool, spoolDirFor, type ReplayOutcome } from '../src/evidence/spool.js';
import type { PeriodicJob } from '../src/schedule/job.js';

/** Every 30 seconds (six-field cron): a result spooled during an outage reaches the store within a minute of its return. */
const EVERY_30_SECONDS = '*/30 * * * * *';

/** What one spool replay did: the replay (null when it failed), and the alerts about results waiting too long. */
export interface SpoolReplayResult {
  replay: ReplayOutcome | null;
  alerts: SpoolAlertSent[];
}

/**
 * The spool replay: appends the results that waited in this host's spool while
 * the evidence store was unavailable, then alerts once per result still waiting
 * longer than `spool.alertAfter`. Safe on several replicas at once: the store
 * takes one result per run, and each alert is claimed in the spool folder.
 */
export const spoolReplayJob: PeriodicJob<SpoolReplayResult> = {
  name: 'spool-replay',
  schedule: () => EVERY_30_SECONDS,
  async run(_payload, { loaded, db, log, signal }) {
    let replay: ReplayOutcome | null = null;
    try {
      replay = await replaySpool(db, spoolDirFor(loaded.config, loaded.dir), log);
    } catch (error) {
      log.warn({ err: reasonOf(error) }, 'could not replay the spool; its results keep waiting');
    }
    const channels = createChannels(loaded.config.alerts, log);
    const alerts = await alertLongSpooledRuns({ loaded, channels, log, signal });
    return { replay, alerts };
  },
};

import { drillJob } from './drill.js';
import { evidenceBackupJob } from './evidence-backup.js';
import { heartbeatJob } from './heartbeat.js';
import { scratchSweepJob } from './scratch-sweep.js';
import { spoolReplayJob } from './spool-replay.js';
import { staleCheckJob } from './stale-check.js';
import { storeStatisticsJob } from './store-statistics.js';

/** Every job kind, handed to the CLI and the scheduler by the entry point. */
export const jobs = {
  drill: drillJob,
  staleCheck: staleCheckJob,
  heartbeat: heartbeatJob,
  scratchSweep: scratchSweepJob,
  periodic: [scratchSweepJob, spoolReplayJob, evidenceBackupJob, storeStatisticsJob],
} as const;

export type Jobs = typeof jobs;

import { drillJob } from './drill.js';
import { scratchSweepJob } from './scratch-sweep.js';

/** Every job kind, handed to the CLI and the scheduler by the entry point. */
export const jobs = { drill: drillJob, periodic: [scratchSweepJob] } as const;

export type Jobs = typeof jobs;

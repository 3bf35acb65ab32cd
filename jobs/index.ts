import { drillJob } from './drill.js';

/** Every job kind, handed to the CLI and the scheduler by the entry point. */
export const jobs = { drill: drillJob } as const;

export type Jobs = typeof jobs;

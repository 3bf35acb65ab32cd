import { z } from 'zod';
import { cronSchema } from '../model/primitives.js';
import { durationSchema } from '../model/duration.js';

/** True when `Intl` knows the IANA time zone name. */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** Where the daemon serves /healthz and /metrics. */
export const listenSchema = z
  .strictObject({
    host: z
      .string()
      .min(1)
      .default('127.0.0.1')
      .describe(
        'Address to bind; loopback by default. Use 0.0.0.0 in a container whose probes come from outside.',
      ),
    port: z
      .number()
      .int()
      .min(0)
      .max(65_535)
      .describe('TCP port; 0 picks a free one (logged at start).'),
  })
  .describe('HTTP listener for /healthz and /metrics. Absent: the daemon serves no HTTP.');

/** The scratch sweep: leftover scratch folders removed on a schedule. */
export const scratchSweepSchema = z
  .strictObject({
    schedule: cronSchema
      .default('17 * * * *')
      .describe('When to sweep, as cron; default hourly at minute 17.'),
    olderThan: durationSchema
      .optional()
      .describe(
        'Remove scratch folders older than this that belong to no unfinished run (crash leftovers, and folders kept by scratch.keep); default: scratch.keepFor.',
      ),
  })
  .describe('Removal of leftover scratch folders by the daemon.');

/** The stale check: drills gone stale, and alerts left undelivered, on a schedule. */
export const staleCheckSchema = z
  .strictObject({
    schedule: cronSchema
      .default('*/5 * * * *')
      .describe(
        'When to check every drill against its maxAge and deliver alerts still pending, as cron; default every 5 minutes. Only with an alerts block.',
      ),
  })
  .describe('The stale check the daemon runs (see alerts).');

/** The `daemon:` block: how `restore-drill daemon` schedules, limits and stops. */
export const daemonConfigSchema = z
  .strictObject({
    timezone: z
      .string()
      .refine(isTimeZone, { message: "expected an IANA time zone like 'UTC' or 'Europe/Berlin'" })
      .optional()
      .describe(
        "IANA time zone the drills' cron schedules are read in, e.g. 'Europe/Berlin'; default: the host's.",
      ),
    concurrency: z
      .number()
      .int()
      .min(1)
      .default(1)
      .describe(
        'How many drills this daemon runs at once; further due drills wait in order of their slot time.',
      ),
    listen: listenSchema.optional(),
    drainTimeout: durationSchema
      .prefault('60s')
      .describe(
        'On SIGTERM/SIGINT, how long running drills may go on before they are stopped and recorded as aborted.',
      ),
    scratchMargin: z
      .number()
      .min(1)
      .default(1.5)
      .describe(
        "Free space needed in scratch before a restore: the set's (or sample's) expected size times this. Unknown sizes are not checked.",
      ),
    scratchSweep: scratchSweepSchema.prefault({}),
    staleCheck: staleCheckSchema.prefault({}),
  })
  .describe(
    'The daemon (`restore-drill daemon`): time zone, concurrency, HTTP listener, drain and scratch limits.',
  );

export type DaemonConfig = z.output<typeof daemonConfigSchema>;

import { z } from 'zod';
import { cronSchema } from '../model/primitives.js';
import { durationSchema, parseDuration } from '../model/duration.js';
import { channelConfigSchema } from './registry.js';

/** The drill alerts a route can take. */
export const routedAlertKinds = [
  'failing',
  'stale',
  'reminder',
  'recovered',
  'unreviewed',
] as const;
export type RoutedAlertKind = (typeof routedAlertKinds)[number];

const channelNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, {
  message: 'expected a channel name of letters, digits, _ . - (starting with a letter or digit)',
});

/** Which drills a route takes. */
export const routeMatchSchema = z
  .strictObject({
    drills: z.array(z.string()).optional().describe('Drill names; the route takes any of them.'),
    tags: z
      .array(z.string())
      .optional()
      .describe("Tags; the route takes a drill that has any of them (a drill's `tags`)."),
    owners: z
      .array(z.string())
      .optional()
      .describe('Owners; the route takes a drill whose `owner` is one of them.'),
  })
  .describe(
    'Which drills the route takes: every list given must match (any entry of a list will do). Absent: every drill.',
  );

/** One route: which alerts go to which channels. */
export const routeSchema = z
  .strictObject({
    match: routeMatchSchema.optional(),
    events: z
      .array(z.enum(routedAlertKinds))
      .min(1)
      .optional()
      .describe(
        'Which alerts the route takes: failing, stale, reminder, recovered, unreviewed (a failed run without a sign-off past review.maxUnreviewed). Absent: all of them.',
      ),
    channels: z
      .array(z.string())
      .min(1, { message: 'expected at least one channel' })
      .describe('Names of channels in alerts.channels.'),
  })
  .describe(
    'Sends the alerts of matching drills to these channels. Every matching route applies; each channel gets an alert once.',
  );

/** How failed sends are retried. */
export const retrySchema = z
  .strictObject({
    attempts: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(10)
      .describe('Attempts per alert and channel, the first included, before it is given up.'),
    initialDelay: durationSchema
      .prefault('10s')
      .describe('Wait before the second attempt; doubled for each further one (with jitter).'),
    maxDelay: durationSchema.prefault('10m').describe('The longest wait between two attempts.'),
    giveUpAfter: durationSchema
      .prefault('3d')
      .describe(
        'An alert older than this is no longer sent, whatever attempts remain (after a long outage).',
      ),
  })
  .refine((retry) => retry.maxDelay >= retry.initialDelay, {
    path: ['maxDelay'],
    message: 'expected at least initialDelay',
  })
  .describe(
    'Retries of failed sends. Every attempt is recorded in the alert log; a restart resumes where it stopped.',
  );

/** The periodic summary of every drill. */
export const heartbeatSchema = z
  .strictObject({
    schedule: cronSchema.describe("When to send it, as cron, e.g. '0 9 * * 1' (Mondays at 09:00)."),
    channels: z
      .array(z.string())
      .min(1)
      .optional()
      .describe('Names of channels in alerts.channels; absent: every channel.'),
  })
  .describe(
    'A summary of every drill (green and red) sent on a schedule, proving that the alert path itself works.',
  );

/** `remindEvery`: a duration, or `never`. */
const remindEverySchema = z
  .string()
  .refine((text) => text === 'never' || parseDuration(text) !== undefined, {
    message: "expected a duration like '24h' or 'never'",
  })
  .transform((text) => (text === 'never' ? null : (parseDuration(text) as number)))
  .meta({
    description:
      "While a drill stays red (failing or stale), repeat its alert this often, e.g. '24h'; 'never' sends one alert per change.",
  });

/** The `alerts:` block of the config file. */
export const alertsConfigSchema = z
  .strictObject({
    channels: z
      .record(channelNameSchema, channelConfigSchema)
      .refine((channels) => Object.keys(channels).length > 0, {
        message: 'expected at least one channel',
      })
      .describe('Named places alerts go: webhooks (generic JSON, Slack, Teams) and e-mail.'),
    routes: z
      .array(routeSchema)
      .optional()
      .describe(
        'Which drills alert which channels. Absent: every alert goes to every channel. An alert no route takes is logged and not sent.',
      ),
    remindEvery: remindEverySchema.prefault('24h'),
    heartbeat: heartbeatSchema.optional(),
    retry: retrySchema.prefault({}),
  })
  .superRefine((alerts, ctx) => {
    const names = Object.keys(alerts.channels);
    const expected = names.map((name) => `'${name}'`).join(', ');
    const checkNames = (list: readonly string[] | undefined, path: PropertyKey[]) =>
      list?.forEach((name, index) => {
        if (!alerts.channels[name]) {
          ctx.addIssue({
            code: 'custom',
            path: [...path, index],
            message: `'${name}' is not a channel; expected one of ${expected}`,
          });
        }
      });
    alerts.routes?.forEach((route, index) =>
      checkNames(route.channels, ['routes', index, 'channels']),
    );
    checkNames(alerts.heartbeat?.channels, ['heartbeat', 'channels']);
  })
  .describe('Alerts on failed and stale drills, and where they go.');

export type AlertsConfig = z.output<typeof alertsConfigSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
export type RetryConfig = z.output<typeof retrySchema>;

/**
 * Cross-references between `alerts` and the rest of the file, for the root
 * schema's superRefine: a route naming a drill that does not exist is a typo
 * that would silently route nothing.
 */
export function checkAlertReferences(
  config: { alerts?: AlertsConfig | undefined; drills: readonly { name: string }[] },
  ctx: { addIssue(issue: { code: 'custom'; path: PropertyKey[]; message: string }): void },
): void {
  const drills = new Set(config.drills.map((drill) => drill.name));
  config.alerts?.routes?.forEach((route, routeIndex) =>
    route.match?.drills?.forEach((name, index) => {
      if (!drills.has(name)) {
        const known = [...drills]
          .slice(0, 10)
          .map((drill) => `'${drill}'`)
          .join(', ');
        ctx.addIssue({
          code: 'custom',
          path: ['alerts', 'routes', routeIndex, 'match', 'drills', index],
          message: `'${name}' is not a drill; expected one of ${known}${drills.size > 10 ? ', …' : ''}`,
        });
      }
    }),
  );
}

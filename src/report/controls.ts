import { z } from 'zod';

const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAY_MS = 86_400_000;

/** True for a real calendar date written `YYYY-MM-DD` (rejects 2026-02-30). */
export function isCalendarDate(text: string): boolean {
  const match = DATE_PATTERN.exec(text);
  if (!match) return false;
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  return date.toISOString().slice(0, 10) === text;
}

/**
 * An accepted exception for a known failing or paused drill. A waiver does not
 * hide anything: reports still show the drill's state, marked as waived, and an
 * expired waiver is flagged.
 */
export const waiverSchema = z
  .strictObject({
    owner: z.string().min(1).describe('Who accepted the risk and answers for it.'),
    reason: z
      .string()
      .min(1)
      .describe('Why the drill may fail or not run, e.g. a migration in progress.'),
    expires: z
      .string()
      .refine(isCalendarDate, { message: "expected a date written YYYY-MM-DD, e.g. '2026-12-31'" })
      .describe(
        'Last day (UTC) the waiver applies, written YYYY-MM-DD; reports flag it once past.',
      ),
    checks: z
      .array(z.string().min(1))
      .min(1, {
        message: 'expected at least one check name, or leave checks out to waive the whole drill',
      })
      .optional()
      .describe(
        'Only failures of these checks are waived (e.g. [manifest]); without it the whole drill is waived, including a drill that is paused or overdue.',
      ),
  })
  .describe('An accepted exception for a known failing or paused drill.');
export type Waiver = z.output<typeof waiverSchema>;

/** The controls a drill evidences, e.g. 'ISO27001:A.8.13', 'SOC2:CC9.1' or the organisation's own ids. */
export const controlsSchema = z
  .array(
    z
      .string()
      .trim()
      .min(1, { message: 'expected a control id, e.g. ISO27001:A.8.13' })
      // Reports and OSCAL documents carry the id as a one-line token.
      .refine((id) => !/\p{Cc}/u.test(id), {
        message: 'expected a control id on one line, without control characters',
      }),
  )
  .default([])
  .describe(
    "Controls this drill evidences, e.g. 'ISO27001:A.8.13', 'SOC2:CC9.1' or your own ids; reports show a coverage matrix per control.",
  );

/** The instant a waiver stops applying: the end of its `expires` day, UTC. */
export function waiverEndsAt(waiver: Pick<Waiver, 'expires'>): Date {
  return new Date(Date.parse(`${waiver.expires}T00:00:00Z`) + DAY_MS);
}

/** Whether a waiver still applies at `now`. */
export function isWaiverActive(waiver: Pick<Waiver, 'expires'>, now: Date): boolean {
  return now.getTime() < waiverEndsAt(waiver).getTime();
}

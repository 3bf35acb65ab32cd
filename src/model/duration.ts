import { z } from 'zod';

const UNIT_MS = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  // A year of 365 days: retention floors are written in years.
  y: 31_536_000_000,
} as const;
const DURATION_PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)$/;

/** Parses `90s`, `15m`, `26h`, `7d`, `2w`, `7y` (365-day years) or `500ms` into milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION_PATTERN.exec(text.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]);
}

/** Formats milliseconds in the largest unit that keeps it short: 90000 → `1m30s`. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(ms < 10_000 ? 2 : 1)}s`;
  const parts: string[] = [];
  let rest = Math.round(ms / 1_000);
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.slice(0, 2).join('');
}

/** A duration written like `90s`, `15m`, `26h`, `7d`; parsed to milliseconds. */
export const durationSchema = z
  .string()
  .refine((text) => parseDuration(text) !== undefined, {
    message: "expected a duration like '90s', '15m', '26h' or '7d'",
  })
  .transform((text) => parseDuration(text) as number)
  .meta({
    description:
      "A duration: a number followed by ms, s, m, h, d, w or y (365 days), e.g. '15m' or '7d'.",
    pattern: DURATION_PATTERN.source,
  });

export type DurationMs = z.output<typeof durationSchema>;

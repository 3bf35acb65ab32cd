/** The config's value types that every layer shares: byte sizes, cron expressions, names. */
import { z } from 'zod';
import { validate as validateCron } from 'node-cron';
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};
const SIZE_PATTERN = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb|kib|mib|gib|tib)?$/i;

/** Parses `500MB`, `2GiB` or a plain byte count; undefined when malformed. */
export function parseByteSize(text: string | number): number | undefined {
  if (typeof text === 'number')
    return Number.isFinite(text) && text >= 0 ? Math.floor(text) : undefined;
  const match = SIZE_PATTERN.exec(text.trim());
  if (!match) return undefined;
  return Math.floor(Number(match[1]) * (SIZE_UNITS[(match[2] ?? 'b').toLowerCase()] ?? 1));
}

const BYTE_UNITS = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];

/** A byte count for people, in the config's decimal units: `1.5 GB`, `950 MB`, `12 B`. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  // 999.6 KB would round to "1000 KB": move up a unit first.
  while (value >= 999.5 && unit < BYTE_UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : Number(value.toPrecision(3))} ${BYTE_UNITS[unit]}`;
}

/** A size in bytes: a number, or text like `500MB` or `2GiB`. */
export const byteSizeSchema = z
  .union([z.number().int().nonnegative(), z.string()])
  .refine((value) => parseByteSize(value) !== undefined, {
    message: "expected a size like 1048576, '500MB' or '2GiB'",
  })
  .transform((value) => parseByteSize(value) as number)
  .meta({
    description: 'A size in bytes, or a number with a unit: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB.',
  });

/** A five- or six-field cron expression, checked with node-cron's own parser. */
export const cronSchema = z
  .string()
  .refine((text) => validateCron(text), { message: "expected a cron expression like '0 3 * * *'" })
  .meta({
    description: "Cron expression (five fields, or six with seconds first), e.g. '0 3 * * *'.",
  });

/** A name usable in CLI flags, file names and metrics labels. */
export const nameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, {
  message: 'expected letters, digits, _ . - (starting with a letter or digit)',
});

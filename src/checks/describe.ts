import type { Finding } from './check.js';

/** `1 file`, `3 files`. */
export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : pluralForm}`;
}

/** The first few findings for a one-line detail: `missing 'a.txt', changed 'b.bin' and 3 more`. */
export function listFindings(findings: readonly Finding[], max = 3): string {
  const shown = findings.slice(0, max).map((finding) => `${finding.problem} '${finding.item}'`);
  const more = findings.length - shown.length;
  return more > 0 ? `${shown.join(', ')} and ${more} more` : shown.join(', ');
}

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];

/** A byte count for people, in the config's decimal units: `1.5 GB`, `950 MB`, `12 B`. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  // 999.6 KB would round to "1000 KB": move up a unit first.
  while (value >= 999.5 && unit < UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : Number(value.toPrecision(3))} ${UNITS[unit]}`;
}

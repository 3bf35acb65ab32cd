import type { Finding } from './check-result.js';

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

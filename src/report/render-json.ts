import type { EvidenceSummary } from './drill-summary.js';

/** The summary model as JSON, as `report --format json` writes it. */
export function renderJsonReport(summary: EvidenceSummary): string {
  return `${JSON.stringify(summary, null, 2)}\n`;
}

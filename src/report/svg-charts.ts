import { formatDuration } from '../model/duration.js';
import type { RunVerdict } from '../evidence/run-record.js';
import type { RunPoint } from './drill-summary.js';
import { html, type SafeHtml } from './html.js';

// Inline SVG, drawn from numbers only: every text inside goes through `html`,
// and nothing refers to a font, an image or a script outside the document.

/** Fill colour per verdict; the legend and tooltips also say it in words. */
export const VERDICT_COLOURS: Record<RunVerdict, string> = {
  passed: '#1a7f37',
  failed: '#cf222e',
  error: '#8250df',
  timed_out: '#bc4c00',
  aborted: '#6e7781',
};

const WIDTH = 640;

/** A point's tooltip: when, verdict, duration, cause. */
function tooltip(point: RunPoint): string {
  const cause = point.verdict === 'passed' || !point.cause ? '' : ` — ${point.cause}`;
  return `${new Date(Date.parse(point.startedAt)).toISOString().replace('T', ' ').slice(0, 16)} UTC ${point.verdict} ${formatDuration(point.restoreVerifyMs)}${cause}`;
}

/**
 * Restore-plus-verification time of each run over time, with the RTO target as a
 * dashed line. Dots are coloured by verdict; x is time, y starts at zero.
 */
export function durationTrendSvg(
  points: readonly RunPoint[],
  targetMs: number | null,
  label: string,
): SafeHtml {
  const height = 170;
  const left = 64;
  const right = 12;
  const top = 14;
  const bottom = 28;
  const plotWidth = WIDTH - left - right;
  const plotHeight = height - top - bottom;
  if (points.length === 0) {
    return html`<svg class="chart" viewBox="0 0 ${WIDTH} 40" width="${WIDTH}" height="40" role="img" aria-label="${label}: no runs"><text x="8" y="24" class="muted">No runs in this period.</text></svg>`;
  }
  const times = points.map((point) => Date.parse(point.startedAt));
  const t0 = times.reduce((a, b) => Math.min(a, b));
  const t1 = times.reduce((a, b) => Math.max(a, b));
  const peak = points.reduce(
    (max, point) => Math.max(max, point.restoreVerifyMs),
    Math.max(targetMs ?? 0, 1),
  );
  const yMax = peak * 1.1;
  const x = (time: number) =>
    left + (t1 === t0 ? plotWidth / 2 : ((time - t0) / (t1 - t0)) * plotWidth);
  const y = (ms: number) => top + plotHeight - (ms / yMax) * plotHeight;
  const fixed = (value: number) => value.toFixed(1);

  const line = points
    .map((point, index) => `${fixed(x(times[index] as number))},${fixed(y(point.restoreVerifyMs))}`)
    .join(' ');
  const dots = points.map(
    (point, index) =>
      html`<circle cx="${fixed(x(times[index] as number))}" cy="${fixed(y(point.restoreVerifyMs))}" r="3.2" fill="${VERDICT_COLOURS[point.verdict]}"><title>${tooltip(point)}</title></circle>`,
  );
  const target =
    targetMs === null
      ? null
      : html`<line x1="${left}" x2="${WIDTH - right}" y1="${fixed(y(targetMs))}" y2="${fixed(y(targetMs))}" class="target"/><text x="${WIDTH - right}" y="${fixed(y(targetMs) - 4)}" text-anchor="end" class="axis">RTO target ${formatDuration(targetMs)}</text>`;
  return html`<svg class="chart" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" role="img" aria-label="${label}">
<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotHeight}" class="frame"/>
<line x1="${left}" x2="${WIDTH - right}" y1="${top + plotHeight}" y2="${top + plotHeight}" class="frame"/>
<text x="${left - 6}" y="${top + 4}" text-anchor="end" class="axis">${formatDuration(yMax)}</text>
<text x="${left - 6}" y="${top + plotHeight}" text-anchor="end" class="axis">0</text>
<text x="${left}" y="${height - 8}" class="axis">${new Date(t0).toISOString().slice(0, 10)}</text>
<text x="${WIDTH - right}" y="${height - 8}" text-anchor="end" class="axis">${new Date(t1).toISOString().slice(0, 10)}</text>
${target}
<polyline points="${line}" class="trend"/>
${dots}
</svg>`;
}

/** One cell per run, oldest left, coloured by verdict, each with a tooltip. */
export function verdictStripSvg(points: readonly RunPoint[], label: string): SafeHtml {
  const height = 22;
  if (points.length === 0) return html``;
  const cell = Math.min(14, WIDTH / points.length);
  const gap = cell > 4 ? 1 : 0;
  const cells = points.map(
    (point, index) =>
      html`<rect x="${(index * cell).toFixed(2)}" y="2" width="${Math.max(cell - gap, 0.5).toFixed(2)}" height="${height - 4}" fill="${VERDICT_COLOURS[point.verdict]}"><title>${tooltip(point)}</title></rect>`,
  );
  const width = Math.ceil(points.length * cell);
  return html`<svg class="strip" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${label}">${cells}</svg>`;
}

/** The colour key for both charts. */
export function verdictLegend(): SafeHtml {
  const entries = (Object.keys(VERDICT_COLOURS) as RunVerdict[]).map(
    (verdict) =>
      html`<span class="key"><svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" fill="${VERDICT_COLOURS[verdict]}"/></svg> ${verdict.replace('_', ' ')}</span>`,
  );
  return html`<div class="legend">${entries}</div>`;
}

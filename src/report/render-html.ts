import { formatDuration } from '../model/duration.js';
import { formatBytes } from '../model/primitives.js';
import { VERSION } from '../version.js';
import type {
  ControlCoverage,
  CoverageFinding,
  DrillState,
  DrillSummary,
  EvidenceSummary,
  Objective,
  RunDetail,
  RunPoint,
  SelftestStatus,
  WaiverStatus,
} from './drill-summary.js';
import { html, trusted, type SafeHtml } from './html.js';
import { durationTrendSvg, verdictLegend, verdictStripSvg } from './svg-charts.js';

// One self-contained HTML file: inline CSS and SVG, no script, no external
// reference of any kind (a Content-Security-Policy says so to the browser too),
// laid out to print to PDF with one drill per page.

/** The report's stylesheet; the web view (report/server) uses it too, so both read alike. */
export const STYLE = `
:root { --green: #1a7f37; --red: #cf222e; --amber: #9a6700; --muted: #57606a; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1f2328; margin: 0 auto; max-width: 1000px; padding: 24px; line-height: 1.4; font-size: 14px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; } h3 { font-size: 15px; margin: 16px 0 6px; }
.muted, .axis { color: var(--muted); fill: var(--muted); } .axis { font-size: 11px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 13px; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr { break-inside: avoid; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; white-space: nowrap; }
.green { background: var(--green); } .red { background: var(--red); } .waived { background: var(--amber); } .expired { background: var(--red); } .active { background: var(--green); }
.bad { color: var(--red); font-weight: 600; } .ok { color: var(--green); }
.totals { display: flex; flex-wrap: wrap; gap: 8px; margin: 12px 0; }
.totals div { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; min-width: 100px; }
.totals b { display: block; font-size: 20px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
.chart .frame { stroke: #8c959f; stroke-width: 1; } .chart .trend { fill: none; stroke: #0969da; stroke-width: 1.5; }
.chart .target { stroke: var(--red); stroke-dasharray: 5 4; stroke-width: 1.2; } .chart text { font-family: inherit; }
svg { max-width: 100%; height: auto; } .strip { display: block; margin: 4px 0; }
.legend { font-size: 12px; color: var(--muted); } .legend .key { margin-right: 12px; white-space: nowrap; }
code, .hash { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; word-break: break-all; }
section.drill { margin-top: 32px; }
@page { size: A4; margin: 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  section.drill { break-before: page; margin-top: 0; }
  h2 { break-after: avoid; } table, svg { break-inside: avoid; }
}
`;

/** A drill state as a badge says it. */
export const STATE_LABEL: Record<DrillState, string> = {
  green: 'OK',
  red: 'ATTENTION',
  waived: 'WAIVED',
};
/** A finding's kind in words. */
export const KIND_LABEL: Record<CoverageFinding['kind'], string> = {
  'never-passed': 'Never passed',
  overdue: 'Overdue',
  'last-run-failed': 'Last run failed',
  'rto-missed': 'RTO missed',
  'rpo-missed': 'RPO missed',
  'waiver-expired': 'Waiver expired',
};

/** The report as one self-contained HTML document. */
export function renderHtmlReport(summary: EvidenceSummary): string {
  const title = `Restore drill evidence ${summary.window.since.slice(0, 10)} to ${summary.window.until.slice(0, 10)}`;
  const doc = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="restore-drill ${VERSION}">
<title>${title}</title>
<style>${trusted(STYLE)}</style>
</head>
<body>
<header>
<h1>Restore drill evidence</h1>
<div class="muted">Runs started ${when(summary.window.since)} to ${when(summary.window.until)} · generated ${when(summary.generatedAt)} by restore-drill ${VERSION}</div>
${chainLine(summary)}
${restorableLine(summary)}
</header>
${unreviewedSection(summary)}
${totals(summary)}
${findingsSection(summary.coverage.findings)}
${overviewSection(summary.drills)}
${controlsSection(summary.coverage.controls, summary.coverage.drillsWithoutControls)}
${waiversSection(summary.coverage.waivers)}
${reviewsSection(summary)}
${summary.drills.map((drill) => drillSection(drill))}
</body>
</html>
`;
  return doc.html;
}

function chainLine(summary: EvidenceSummary): SafeHtml | null {
  if (!summary.chain) return null;
  return html`<div class="muted">Evidence chain head: seq ${summary.chain.seq}, record hash <span class="hash">${summary.chain.recordHash}</span> (check with <code>restore-drill evidence verify</code>)</div>`;
}

/** When the evidence store itself was last proven restorable (an `evidence-backup` drill's pass). */
function restorableLine(summary: EvidenceSummary): SafeHtml | null {
  const restorable = summary.evidenceRestorable;
  if (!restorable) return null;
  if (restorable.drills.length === 0)
    return html`<div class="muted">Evidence store last proven restorable: <strong>never</strong> (no drill restores its backups: see <code>restore-drill evidence backup</code> and the source kind <code>evidence-backup</code>)</div>`;
  if (!restorable.lastPass)
    return html`<div class="muted">Evidence store last proven restorable: <strong>never</strong> (drill ${restorable.drills.join(', ')} has not passed)</div>`;
  const pass = restorable.lastPass;
  return html`<div class="muted">Evidence store last proven restorable: ${when(pass.finishedAt)} by drill ${pass.drill} (run ${pass.runId.slice(0, 8)})</div>`;
}

/** Failures nobody signed off within `review.maxUnreviewed`: first, above everything else. */
function unreviewedSection(summary: EvidenceSummary): SafeHtml | null {
  const failures = summary.unreviewedFailures ?? [];
  if (failures.length === 0) return null;
  const max = summary.reviews?.maxUnreviewedMs ?? null;
  const rows = failures.map(
    (run) =>
      html`<tr><td>${run.drill}</td><td><code>${run.runId}</code></td><td>${when(run.startedAt)}</td><td class="num">${formatDuration(Date.parse(summary.generatedAt) - Date.parse(run.startedAt))}</td></tr>`,
  );
  return html`<section id="unreviewed-failures"><h2 class="bad">Unreviewed failures (${failures.length})</h2>
<p>Failed runs nobody has signed off${max === null ? '' : ` within ${formatDuration(max)}`}, oldest first. Review each and record the decision with <code>restore-drill signoff RUN_ID --by NAME --decision accepted|remediation|risk-accepted --note TEXT</code>.</p>
<table><thead><tr><th>Drill</th><th>Run</th><th>Failed</th><th class="num">Unreviewed for</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}

/** Every failed run in the window: reviewed or not, by whom, when, and the decision. */
function reviewsSection(summary: EvidenceSummary): SafeHtml | null {
  if (summary.reviews === undefined) return null;
  const failures = summary.reviews.failures;
  if (failures.length === 0)
    return html`<h2>Reviews of failed runs</h2><p class="ok">No run failed in this period.</p>`;
  const rows = failures.map((run) => {
    const review = run.review;
    const status =
      review === null
        ? html`<span class="${run.overdue ? 'bad' : 'muted'}">not reviewed</span>`
        : html`<b>${review.decision}</b> by ${review.by} (${review.via === 'web' ? 'web view' : 'CLI'}), ${when(review.reviewedAt)}${review.ticket === null ? '' : html` (ticket ${review.ticket})`}<div class="muted">${review.note}</div>`;
    return html`<tr><td>${run.drill}${run.waived ? html` <span class="badge waived">waived</span>` : ''}</td><td><code>${run.runId}</code></td><td>${when(run.startedAt)}</td><td>${status}</td><td class="num">${run.reviews}</td></tr>`;
  });
  return html`<section id="reviews"><h2>Reviews of failed runs</h2>
<table><thead><tr><th>Drill</th><th>Run</th><th>Failed</th><th>Latest review</th><th class="num">Reviews</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}

function totals(summary: EvidenceSummary): SafeHtml {
  const t = summary.totals;
  const box = (label: string, value: number, bad = false) =>
    html`<div><b class="${bad && value > 0 ? 'bad' : ''}">${value}</b>${label}</div>`;
  return html`<div class="totals">${box('drills', t.drills)}${box('runs', t.runs)}${box('passes', t.passes)}${box('need attention', t.red, true)}${box('waived', t.waived)}${box('overdue', t.overdue, true)}${box('never passed', t.neverPassed, true)}${box('expired waivers', t.expiredWaivers, true)}</div>`;
}

function findingsSection(findings: readonly CoverageFinding[]): SafeHtml {
  if (findings.length === 0)
    return html`<h2>Findings</h2><p class="ok">No findings: every drill passed within its maximum age and met its objectives.</p>`;
  const rows = findings.map(
    (finding) =>
      html`<tr><td>${KIND_LABEL[finding.kind]}</td><td>${finding.drill}</td><td>${finding.owner ?? '—'}</td><td>${finding.detail}</td><td>${finding.waived ? html`<span class="badge waived">waived</span>` : ''}</td></tr>`,
  );
  return html`<h2>Findings</h2>
<p class="muted">Drills that have never passed or are overdue come first.</p>
<table><thead><tr><th>Finding</th><th>Drill</th><th>Owner</th><th>Detail</th><th></th></tr></thead><tbody>${rows}</tbody></table>`;
}

function overviewSection(drills: readonly DrillSummary[]): SafeHtml {
  const rows = drills.map(
    (drill) => html`<tr>
<td>${stateBadge(drill.state)}</td><td>${drill.name}${drill.configured ? '' : html` <span class="muted">(not in config)</span>`}</td><td>${drill.owner ?? '—'}</td>
<td class="num">${drill.runs}</td><td class="num">${percent(drill.passRate)}</td>
<td>${drill.lastPass ? day(drill.lastPass.finishedAt) : html`<span class="bad">never</span>`}${drill.overdue && !drill.neverPassed ? html` <span class="bad">overdue</span>` : ''}</td>
<td>${drill.lastFailure ? day(drill.lastFailure.startedAt) : '—'}</td>
<td>${objective(drill.rto)}</td><td>${objective(drill.rpo)}</td></tr>`,
  );
  return html`<h2>Drills</h2>
<table><thead><tr><th>State</th><th>Drill</th><th>Owner</th><th class="num">Runs</th><th class="num">Pass rate</th><th>Last pass</th><th>Last failure</th><th>RTO (last / target)</th><th>RPO (last / target)</th></tr></thead>
<tbody>${rows}</tbody></table>`;
}

function controlsSection(
  controls: readonly ControlCoverage[],
  without: readonly string[],
): SafeHtml {
  const rows = controls.map(
    (control) =>
      html`<tr><td>${control.control}</td><td>${stateBadge(control.state)}</td><td>${control.drills.map((entry, index) => html`${index > 0 ? ', ' : ''}${entry.drill} ${stateBadge(entry.state)}`)}</td></tr>`,
  );
  const table =
    controls.length === 0
      ? html`<p class="muted">No drill names a control (add <code>controls:</code> to a drill).</p>`
      : html`<table><thead><tr><th>Control</th><th>State</th><th>Drills evidencing it</th></tr></thead><tbody>${rows}</tbody></table>`;
  const uncovered =
    without.length === 0
      ? null
      : html`<p class="muted">Drills naming no control: ${without.join(', ')}</p>`;
  return html`<h2>Control coverage</h2>${table}${uncovered}`;
}

function waiversSection(waivers: readonly WaiverStatus[]): SafeHtml | null {
  if (waivers.length === 0) return null;
  return html`<h2>Waivers</h2>${waiverTable(waivers, true)}`;
}

/** Waivers as a table, with or without the drill column. */
/** Which kinds of damage the drill's checks catch, by its latest selftest. */
function selftestLine(selftest: SelftestStatus | null): SafeHtml {
  if (selftest === null)
    return html`none yet: <code>restore-drill selftest --drill</code> shows which damage its checks would catch`;
  const at = when(selftest.startedAt);
  if (selftest.verdict === 'error')
    return html`${at}: <span class="bad">could not judge</span> (${selftest.cause ?? ''})`;
  const caught =
    selftest.detected.length > 0
      ? html`catches ${selftest.detected.join(', ')}`
      : html`catches nothing`;
  if (selftest.undetected.length === 0) return html`${at}: ${caught}`;
  return html`${at}: ${caught}; <span class="bad">would not notice ${selftest.undetected.join(', ')}</span> (${selftest.findings.join('; ')})`;
}

export function waiverTable(waivers: readonly WaiverStatus[], withDrill: boolean): SafeHtml {
  const rows = waivers.map(
    (
      waiver,
    ) => html`<tr>${withDrill ? html`<td>${waiver.drill}</td>` : null}<td>${waiver.owner}</td><td>${waiver.reason}</td><td>${waiver.checks ? waiver.checks.join(', ') : 'whole drill'}</td>
<td>${waiver.expires}</td><td>${waiver.active ? html`<span class="badge active">active</span> <span class="muted">${waiver.daysLeft} days left</span>` : html`<span class="badge expired">expired</span>`}</td></tr>`,
  );
  return html`<table><thead><tr>${withDrill ? html`<th>Drill</th>` : null}<th>Owner</th><th>Reason</th><th>Scope</th><th>Expires</th><th>Status</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function drillSection(drill: DrillSummary): SafeHtml {
  const label = `Restore plus verification time of ${drill.name}`;
  return html`<section class="drill">
<h2>${drill.name} ${stateBadge(drill.state)}</h2>
${drill.description ? html`<p>${drill.description}</p>` : null}
<dl class="facts">
<dt>Owner</dt><dd>${drill.owner ?? '—'}</dd>
${drill.tags.length > 0 ? html`<dt>Tags</dt><dd>${drill.tags.join(', ')}</dd>` : null}
<dt>Controls</dt><dd>${drill.controls.length > 0 ? drill.controls.join(', ') : '—'}</dd>
<dt>Runs in period</dt><dd>${drill.runs} (${verdictBreakdown(drill)})${drill.passRate === null ? '' : `, pass rate ${percent(drill.passRate)}`}</dd>
<dt>Last run</dt><dd>${runLine(drill.lastRun)}</dd>
${drill.lastRun?.assurance ? html`<dt>Sample assurance</dt><dd>${drill.lastRun.assurance}</dd>` : null}
<dt>Last pass</dt><dd>${drill.lastPass ? html`${when(drill.lastPass.finishedAt)} (${formatDuration(drill.lastPassAgeMs ?? 0)} ago)` : html`<span class="bad">never</span>`}${drill.maxAgeMs === null ? '' : html`; maximum age ${formatDuration(drill.maxAgeMs)}${drill.overdue ? html` <span class="bad">overdue</span>` : ''}`}</dd>
<dt>Last failure</dt><dd>${runLine(drill.lastFailure)}</dd>
<dt>RTO</dt><dd>${objective(drill.rto)}${drill.rto.medianMs === null ? '' : `; median ${formatDuration(drill.rto.medianMs)}, max ${formatDuration(drill.rto.maxMs ?? 0)} over passes in period`}</dd>
<dt>RPO</dt><dd>${objective(drill.rpo)}${drill.rpo.worstRecentMs === null ? '' : `; oldest set in recent runs ${formatDuration(drill.rpo.worstRecentMs)}`}</dd>
${drill.selftest === undefined ? null : html`<dt>Selftest</dt><dd>${selftestLine(drill.selftest)}</dd>`}
</dl>
${failedChecks(drill.lastFailure)}
${drill.waivers.length > 0 ? html`<h3>Waivers</h3>${waiverTable(drill.waivers, false)}` : null}
<h3>Restore duration (restore + verification)</h3>
${durationTrendSvg(drill.recent, drill.rto.targetMs, label)}
<h3>Recent runs</h3>
${verdictStripSvg(drill.recent, `Verdicts of the last ${drill.recent.length} runs of ${drill.name}, oldest first`)}
${drill.recent.length > 0 ? verdictLegend() : null}
${recentTable(drill.recent)}
</section>`;
}

function failedChecks(run: RunDetail | null): SafeHtml | null {
  if (!run || run.failedChecks.length === 0) return null;
  const rows = run.failedChecks.map(
    (check) => html`<tr><td>${check.name}</td><td>${check.detail}</td></tr>`,
  );
  return html`<h3>Failed checks of the last failure</h3><table><thead><tr><th>Check</th><th>Detail</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function recentTable(points: readonly RunPoint[]): SafeHtml {
  if (points.length === 0) return html`<p class="muted">No runs in this period.</p>`;
  const rows = [...points].reverse().map(
    (
      point,
    ) => html`<tr><td>${when(point.startedAt)}</td><td><code>${point.runId.slice(0, 8)}</code></td><td>${verdictText(point.verdict)}</td>
<td class="num">${formatDuration(point.restoreVerifyMs)}</td><td class="num">${point.files}</td><td class="num">${formatBytes(point.bytes)}</td>
<td>${point.setPath ?? '—'}</td><td>${point.verdict === 'passed' ? '' : (point.cause ?? '')}</td></tr>`,
  );
  return html`<table><thead><tr><th>Started</th><th>Run</th><th>Verdict</th><th class="num">Restore + verify</th><th class="num">Files</th><th class="num">Bytes</th><th>Backup set</th><th>Cause</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function runLine(run: RunDetail | null): SafeHtml {
  if (!run) return html`—`;
  return html`${when(run.startedAt)} ${verdictText(run.verdict)} <code>${run.runId.slice(0, 8)}</code>${run.verdict !== 'passed' && run.cause ? html` — ${run.cause}` : null}`;
}

/** A verdict in words, red unless passed. */
export function verdictText(verdict: RunPoint['verdict']): SafeHtml {
  return verdict === 'passed'
    ? html`<span class="ok">passed</span>`
    : html`<span class="bad">${verdict.replace('_', ' ')}</span>`;
}

function verdictBreakdown(drill: DrillSummary): string {
  const parts = Object.entries(drill.verdicts)
    .filter(([, count]) => count > 0)
    .map(([verdict, count]) => `${count} ${verdict.replace('_', ' ')}`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

/** `achieved / target` with met or missed. */
export function objective(value: Objective): SafeHtml {
  const achieved = value.lastMs === null ? '—' : formatDuration(value.lastMs);
  const target = value.targetMs === null ? 'no target' : formatDuration(value.targetMs);
  const mark =
    value.met === false
      ? html` <span class="bad">missed</span>`
      : value.met
        ? html` <span class="ok">met</span>`
        : null;
  return html`${achieved} / ${target}${mark}`;
}

/** green / red / waived as a coloured badge. */
export function stateBadge(state: DrillState): SafeHtml {
  return html`<span class="badge ${state}">${STATE_LABEL[state]}</span>`;
}

/** A 0..1 rate as a percentage; a dash for none. */
export function percent(rate: number | null): string {
  return rate === null ? '—' : `${(rate * 100).toFixed(rate === 1 || rate === 0 ? 0 : 1)}%`;
}

/** Times in UTC whatever offset the record was written with: one report, one clock. */
export function when(iso: string): string {
  return `${utc(iso).slice(0, 16).replace('T', ' ')} UTC`;
}

/** The UTC day of an ISO time. */
export function day(iso: string): string {
  return utc(iso).slice(0, 10);
}

function utc(iso: string): string {
  const time = Date.parse(iso);
  return Number.isNaN(time) ? iso : new Date(time).toISOString();
}

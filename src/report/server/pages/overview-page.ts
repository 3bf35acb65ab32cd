import { formatDuration } from '../../../model/duration.js';
import type { CoverageFinding, DrillSummary, EvidenceSummary } from '../../drill-summary.js';
import { html, type SafeHtml } from '../../html.js';
import {
  KIND_LABEL,
  day,
  objective,
  percent,
  stateBadge,
  verdictText,
  waiverTable,
  when,
} from '../../render-html.js';
import { verdictStripSvg } from '../../svg-charts.js';
import { drillHref, href, page, runHref } from './layout.js';
import { filterForm, type FilterForm } from './parts.js';

/** `/`: every drill, green, red or waived, the ones needing attention first. */
export function overviewPage(
  summary: EvidenceSummary,
  form: FilterForm,
  filtered: boolean,
): string {
  const t = summary.totals;
  const box = (label: string, value: number, bad = false) =>
    html`<div><b class="${bad && value > 0 ? 'bad' : ''}">${value}</b>${label}</div>`;
  const body = html`<h1>Restore drills</h1>
<div class="muted">Runs started ${when(summary.window.since)} to ${when(summary.window.until)}${summary.chain ? html` · evidence chain head seq ${summary.chain.seq}, <span class="hash">${summary.chain.recordHash.slice(0, 16)}…</span>` : null}</div>
${filterForm(form)}
<div class="totals">${box('drills', t.drills)}${box('need attention', t.red, true)}${box('overdue', t.overdue, true)}${box('never passed', t.neverPassed, true)}${box('waived', t.waived)}${box('runs', t.runs)}${box('passes', t.passes)}${box('expired waivers', t.expiredWaivers, true)}</div>
${drillsTable(summary, filtered)}
${controlsSection(summary)}
${summary.coverage.waivers.length > 0 ? html`<h2>Waivers</h2>${waiverTable(summary.coverage.waivers, true)}` : null}`;
  return page('Overview', 'overview', body);
}

function drillsTable(summary: EvidenceSummary, filtered: boolean): SafeHtml {
  if (summary.drills.length === 0)
    return html`<p class="muted">${filtered ? 'No drill matches these filters.' : 'No drills configured.'}</p>`;
  const findings = new Map<string, CoverageFinding[]>();
  for (const finding of summary.coverage.findings)
    findings.set(finding.drill, [...(findings.get(finding.drill) ?? []), finding]);
  const rows = summary.drills.map((drill) => drillRow(drill, findings.get(drill.name) ?? []));
  return html`<h2>Drills</h2>
<p class="muted">Drills that have never passed or are overdue come first, then failing ones, then waived, then those in order.</p>
<table class="drills"><thead><tr><th>State</th><th>Drill</th><th>Owner</th><th>Why</th><th>Last pass</th><th>Last run</th><th class="num">Pass rate</th><th class="num">Runs</th><th>RTO<br>last / target</th><th>Recent runs</th></tr></thead>
<tbody>${rows}</tbody></table>`;
}

/** Runs in each drill's pass/fail strip on the overview. */
const STRIP_RUNS = 8;

function drillRow(drill: DrillSummary, findings: readonly CoverageFinding[]): SafeHtml {
  const why =
    findings.length === 0
      ? html`<span class="muted">—</span>`
      : findings.map(
          (finding) =>
            html`<div><b>${KIND_LABEL[finding.kind]}</b>${finding.waived ? html` <span class="badge waived">waived</span>` : null}: ${finding.detail}</div>`,
        );
  const lastPass = drill.lastPass
    ? html`${day(drill.lastPass.finishedAt)}<br><span class="muted">${formatDuration(drill.lastPassAgeMs ?? 0)} ago</span>${drill.overdue && !drill.neverPassed ? html` <span class="bad">overdue</span>` : null}`
    : html`<span class="bad">never</span>`;
  const lastRun = drill.lastRun
    ? html`<a href="${runHref(drill.lastRun.runId)}">${day(drill.lastRun.startedAt)}</a><br>${verdictText(drill.lastRun.verdict)}`
    : html`<span class="muted">no run</span>`;
  return html`<tr data-drill="${drill.name}" data-state="${drill.state}">
<td>${stateBadge(drill.state)}</td>
<td class="nowrap"><a href="${drillHref(drill.name)}"><b>${drill.name}</b></a>${drill.configured ? null : html`<br><span class="muted">(not in config)</span>`}</td>
<td class="nowrap">${drill.owner ?? '—'}</td><td>${why}</td><td class="nowrap">${lastPass}</td><td class="nowrap">${lastRun}</td>
<td class="num">${percent(drill.passRate)}</td><td class="num">${drill.runs}</td><td class="nowrap">${objective(drill.rto)}</td>
<td class="strip-cell">${verdictStripSvg(drill.recent.slice(-STRIP_RUNS), `Verdicts of the last ${Math.min(STRIP_RUNS, drill.recent.length)} runs of ${drill.name}, oldest first`)}</td></tr>`;
}

function controlsSection(summary: EvidenceSummary): SafeHtml | null {
  const controls = summary.coverage.controls;
  if (controls.length === 0) return null;
  const rows = controls.map(
    (control) =>
      html`<tr><td>${control.control}</td><td>${stateBadge(control.state)}</td><td>${control.drills.map((entry, index) => html`${index > 0 ? ', ' : ''}<a href="${drillHref(entry.drill)}">${entry.drill}</a> ${stateBadge(entry.state)}`)}</td></tr>`,
  );
  const without = summary.coverage.drillsWithoutControls;
  return html`<h2>Control coverage</h2><table><thead><tr><th>Control</th><th>State</th><th>Drills evidencing it</th></tr></thead><tbody>${rows}</tbody></table>
${without.length > 0 ? html`<p class="muted">Drills naming no control: ${without.map((name, index) => html`${index > 0 ? ', ' : ''}<a href="${drillHref(name)}">${name}</a>`)}</p>` : null}
<p class="muted small">The same evidence as a file: <a href="${href('/api/summary', { since: summary.window.since, until: summary.window.until })}">JSON summary</a>, or <code>restore-drill report</code> for HTML and CSV.</p>`;
}

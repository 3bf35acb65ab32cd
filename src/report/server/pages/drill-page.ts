import { formatDuration } from '../../../model/duration.js';
import type { DrillSummary } from '../../drill-summary.js';
import { html } from '../../html.js';
import type { RunRow } from '../../render-csv.js';
import {
  objective,
  percent,
  stateBadge,
  verdictText,
  waiverTable,
  when,
} from '../../render-html.js';
import { durationTrendSvg, verdictLegend, verdictStripSvg } from '../../svg-charts.js';
import type { Page } from '../queries.js';
import { page, runHref } from './layout.js';
import { filterForm, pager, runsTable, type FilterForm } from './parts.js';

/** `/drills/:name`: what the drill is, how it has done, the trend and its history. */
export function drillPage(
  drill: DrillSummary,
  history: Page<RunRow>,
  form: FilterForm,
  params: URLSearchParams,
): string {
  const verdicts = Object.entries(drill.verdicts)
    .filter(([, count]) => count > 0)
    .map(([verdict, count]) => `${count} ${verdict.replace('_', ' ')}`)
    .join(', ');
  const lastRun = drill.lastRun;
  const body = html`<h1>${drill.name} ${stateBadge(drill.state)}</h1>
${drill.description ? html`<p>${drill.description}</p>` : null}
${drill.configured ? null : html`<p class="callout">This drill is no longer in the config; its evidence is kept.</p>`}
${filterForm(form)}
<div class="two-col"><dl class="facts">
<dt>Owner</dt><dd>${drill.owner ?? '—'}</dd>
<dt>Controls</dt><dd>${drill.controls.length > 0 ? drill.controls.join(', ') : '—'}</dd>
${drill.tags.length > 0 ? html`<dt>Tags</dt><dd>${drill.tags.join(', ')}</dd>` : null}
<dt>Runs in period</dt><dd>${drill.runs}${verdicts === '' ? '' : ` (${verdicts})`}${drill.passRate === null ? '' : html`, pass rate <b>${percent(drill.passRate)}</b>`}</dd>
<dt>Last run</dt><dd>${lastRun ? html`<a href="${runHref(lastRun.runId)}">${when(lastRun.startedAt)}</a> ${verdictText(lastRun.verdict)}${lastRun.verdict !== 'passed' && lastRun.cause ? html` — ${lastRun.cause}` : null}` : '—'}</dd>
</dl><dl class="facts">
<dt>Last pass</dt><dd>${drill.lastPass ? html`<a href="${runHref(drill.lastPass.runId)}">${when(drill.lastPass.finishedAt)}</a> (${formatDuration(drill.lastPassAgeMs ?? 0)} ago)` : html`<span class="bad">never</span>`}</dd>
<dt>Maximum age</dt><dd>${drill.maxAgeMs === null ? '—' : formatDuration(drill.maxAgeMs)}${drill.overdue ? html` <span class="bad">overdue</span>` : null}</dd>
<dt>RTO</dt><dd>${objective(drill.rto)}${drill.rto.medianMs === null ? '' : `; median ${formatDuration(drill.rto.medianMs)}, max ${formatDuration(drill.rto.maxMs ?? 0)}`}</dd>
<dt>RPO</dt><dd>${objective(drill.rpo)}</dd>
</dl></div>
${drill.waivers.length > 0 ? html`<h2>Waivers</h2>${waiverTable(drill.waivers, false)}` : null}
<h2>Restore duration (restore + verification)</h2>
${durationTrendSvg(drill.recent, drill.rto.targetMs, `Restore plus verification time of ${drill.name}`)}
<h3>Pass / fail, oldest first</h3>
${verdictStripSvg(drill.recent, `Verdicts of the last ${drill.recent.length} runs of ${drill.name}, oldest first`)}
${drill.recent.length > 0 ? verdictLegend() : html`<p class="muted">No runs in this period.</p>`}
<h2>History</h2>
${runsTable(history.rows, { showDrill: false })}
${pager(`/drills/${encodeURIComponent(drill.name)}`, params, history, 'Runs')}`;
  return page(drill.name, null, body);
}

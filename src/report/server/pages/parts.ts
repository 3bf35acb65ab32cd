import { formatDuration } from '../../../model/duration.js';
import { formatBytes } from '../../../model/primitives.js';
import { RUN_VERDICTS } from '../../drill-summary.js';
import { html, type SafeHtml } from '../../html.js';
import type { RunRow } from '../../render-csv.js';
import { verdictText, when } from '../../render-html.js';
import type { Page } from '../queries.js';
import { runHref, drillHref } from './layout.js';

// Pieces several pages share: the filter form, the runs table, the pager.

/** What the filter form shows: the period as typed, and the choices a page offers. */
export interface FilterForm {
  action: string;
  since: string;
  until: string;
  drill?: { options: readonly string[]; selected: string | undefined } | undefined;
  owner?: { options: readonly string[]; selected: string | undefined } | undefined;
  state?: { selected: string | undefined } | undefined;
  verdict?: { selected: string | undefined } | undefined;
}

function select(
  name: string,
  label: string,
  options: readonly { value: string; label: string }[],
  selected: string | undefined,
): SafeHtml {
  const choices = options.map(
    (option) =>
      html`<option value="${option.value}"${option.value === (selected ?? '') ? html` selected` : ''}>${option.label}</option>`,
  );
  return html`<label>${label}<select name="${name}">${choices}</select></label>`;
}

/** A plain GET form: it works without script, and its address can be bookmarked or sent to a colleague. */
export function filterForm(form: FilterForm): SafeHtml {
  const any = (label: string) => ({ value: '', label });
  return html`<form class="filters" method="get" action="${form.action}">
<label>From<input name="since" value="${form.since}" placeholder="90d or 2026-01-01" size="14"></label>
<label>Until (inclusive)<input name="until" value="${form.until}" placeholder="now" size="14"></label>
${form.drill ? select('drill', 'Drill', [any('all drills'), ...form.drill.options.map((name) => ({ value: name, label: name }))], form.drill.selected) : null}
${form.owner ? select('owner', 'Owner', [any('all owners'), ...form.owner.options.map((name) => ({ value: name, label: name }))], form.owner.selected) : null}
${form.state ? select('state', 'State', [any('any state'), { value: 'red', label: 'needs attention' }, { value: 'waived', label: 'waived' }, { value: 'green', label: 'OK' }], form.state.selected) : null}
${form.verdict ? select('verdict', 'Verdict', [any('any verdict'), ...RUN_VERDICTS.map((verdict) => ({ value: verdict, label: verdict.replace('_', ' ') }))], form.verdict.selected) : null}
<button type="submit">Apply</button> <a class="reset" href="${form.action}">Reset</a>
</form>`;
}

/** Runs as a table, newest first; each row links to its run page. */
export function runsTable(rows: readonly RunRow[], options: { showDrill: boolean }): SafeHtml {
  if (rows.length === 0) return html`<p class="muted">No runs match.</p>`;
  const body = rows.map(
    (row) => html`<tr class="${row.verdict === 'passed' ? '' : 'not-passed'}">
<td class="nowrap">${when(row.startedAt)}</td>${options.showDrill ? html`<td class="nowrap"><a href="${drillHref(row.drill)}">${row.drill}</a></td>` : null}
<td class="nowrap"><a href="${runHref(row.runId)}"><code>${row.runId.slice(0, 8)}</code></a></td><td class="nowrap">${verdictText(row.verdict)}</td>
<td class="num nowrap">${formatDuration(row.restoreVerifyMs)}</td><td class="num">${row.files}</td><td class="num nowrap">${formatBytes(row.bytes)}</td>
<td>${row.setPath ?? '—'}</td><td>${row.verdict === 'passed' ? '' : (row.cause ?? '')}</td></tr>`,
  );
  return html`<table class="runs"><thead><tr><th>Started</th>${options.showDrill ? html`<th>Drill</th>` : null}<th>Run</th><th>Verdict</th><th class="num">Restore + verify</th><th class="num">Files</th><th class="num">Bytes</th><th>Backup set</th><th>Cause</th></tr></thead>
<tbody>${body}</tbody></table>`;
}

/** "Runs 51–100 of 230" with previous and next links that keep every other parameter. */
export function pager(
  path: string,
  params: URLSearchParams,
  page: Page<unknown>,
  noun: string,
  labels: readonly [string, string] = ['← newer', 'older →'],
): SafeHtml {
  const pages = Math.max(1, Math.ceil(page.total / page.pageSize));
  const first = page.total === 0 ? 0 : (page.page - 1) * page.pageSize + 1;
  const last = Math.min(page.total, page.page * page.pageSize);
  const to = (target: number) => {
    const next = new URLSearchParams(params);
    next.delete('page');
    if (target > 1) next.set('page', String(target));
    const query = next.toString();
    return query === '' ? path : `${path}?${query}`;
  };
  return html`<div class="pager"><span>${noun} ${first}–${last} of ${page.total}</span>
${page.page > 1 ? html`<a href="${to(page.page - 1)}" rel="prev">${labels[0]}</a>` : null}
${page.page < pages ? html`<a href="${to(page.page + 1)}" rel="next">${labels[1]}</a>` : null}
${pages > 1 ? html`<span class="muted">page ${page.page} of ${pages}</span>` : null}</div>`;
}

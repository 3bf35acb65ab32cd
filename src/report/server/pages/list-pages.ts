import { formatBytes } from '../../../model/primitives.js';
import type { RunItem, RunRecord } from '../../../evidence/run-record.js';
import { html } from '../../html.js';
import type { RunRow } from '../../render-csv.js';
import { when } from '../../render-html.js';
import type { Page } from '../queries.js';
import { drillHref, page, runHref } from './layout.js';
import { filterForm, pager, runsTable, type FilterForm } from './parts.js';

/** `/runs`: every run in the period that matches the filters, newest first. */
export function runsPage(
  runs: Page<RunRow>,
  form: FilterForm,
  params: URLSearchParams,
  window: { since: Date; until: Date },
): string {
  const body = html`<h1>Runs</h1>
<div class="muted">Runs started ${when(window.since.toISOString())} to ${when(window.until.toISOString())}</div>
${filterForm(form)}
${runsTable(runs.rows, { showDrill: true })}
${pager('/runs', params, runs, 'Runs')}`;
  return page('Runs', 'runs', body);
}

/** `/runs/:id/items`: every item the run restored (files with size and SHA-256, links with their target), a page at a time. */
export function itemsPage(
  record: RunRecord,
  items: Page<RunItem>,
  params: URLSearchParams,
): string {
  const rows = items.rows.map((item) =>
    item.linkTarget === undefined
      ? html`<tr><td><code>${item.path}</code></td><td class="num">${item.size}</td><td class="num">${formatBytes(item.size)}</td><td>${item.sha256 ? html`<span class="hash">${item.sha256}</span>` : html`<span class="muted">not hashed</span>`}</td></tr>`
      : html`<tr><td><code>${item.path}</code></td><td class="num"></td><td class="num"></td><td>link to <code>${item.linkTarget}</code></td></tr>`,
  );
  const path = `/runs/${encodeURIComponent(record.runId)}/items`;
  const body = html`<h1>Restored items</h1>
<div class="muted">Run <a href="${runHref(record.runId)}"><code>${record.runId}</code></a> of <a href="${drillHref(record.drill)}">${record.drill}</a>, ${when(record.startedAt)}${record.itemsDigest ? html` · items digest <span class="hash">${record.itemsDigest}</span>` : null}</div>
${items.total === 0 ? html`<p class="muted">This run recorded no items.</p>` : html`<table><thead><tr><th>Path</th><th class="num">Bytes</th><th class="num">Size</th><th>SHA-256</th></tr></thead><tbody>${rows}</tbody></table>`}
${pager(path, params, items, 'Items', ['← previous', 'next →'])}`;
  return page(`Items of run ${record.runId.slice(0, 8)}`, null, body);
}

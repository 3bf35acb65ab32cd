import type { CheckResult } from '../../../model/check-result.js';
import { formatDuration } from '../../../model/duration.js';
import { formatBytes } from '../../../model/primitives.js';
import { REVIEW_DECISIONS } from '../../../evidence/database.js';
import type { StoredReview } from '../../../evidence/reviews.js';
import type { RunRecord } from '../../../evidence/run-record.js';
import type { StoredRun } from '../../../evidence/runs.js';
import { describeAssurance } from '../../assurance.js';
import { html, type SafeHtml } from '../../html.js';
import { verdictText } from '../../render-html.js';
import type { ReviewerSession } from '../reviewers.js';
import { drillHref, exactTime, href, page, runHref } from './layout.js';

/** What the run page shows beside the stored run. */
export interface RunPageExtras {
  itemsTotal: number;
  /** The drill's owner as configured now (null when none, or the drill is retired). */
  owner: string | null;
  previous: { seq: number; runId: string } | null;
  next: { seq: number; runId: string } | null;
  /** The run's reviews (sign-offs), in chain order: the latest stands. */
  reviews: readonly StoredReview[];
  /** Whether reviewers are configured, and who is signed in as one. */
  signoff: { enabled: boolean; reviewer: ReviewerSession | null };
}

/** How many of the sample's item paths the page lists before linking to the full list. */
export const SAMPLE_ITEMS_SHOWN = 20;

/** `/runs/:id`: everything one run proves, as the record holds it, and its place in the chain. */
export function runPage(run: StoredRun, extras: RunPageExtras): string {
  const r = run.record;
  const body = html`<h1>Run <code>${r.runId}</code></h1>
<div class="muted">Drill <a href="${drillHref(r.drill)}"><b>${r.drill}</b></a>${extras.owner ? ` · owner ${extras.owner}` : ''} · ${r.trigger}${r.scheduledFor ? ` for the slot ${exactTime(r.scheduledFor)}` : ''}${r.replayOf ? html` · replay of <a href="${runHref(r.replayOf)}"><code>${r.replayOf.slice(0, 8)}</code></a>` : null}</div>
${verdictCallout(r)}
<div class="two-col"><div>
<h2>When and where</h2>
<dl class="facts">
<dt>Verdict</dt><dd>${verdictText(r.verdict)}</dd>
<dt>Started</dt><dd>${exactTime(r.startedAt)}</dd>
<dt>Finished</dt><dd>${exactTime(r.finishedAt)}</dd>
<dt>Host</dt><dd>${r.host}</dd>
<dt>restore-drill</dt><dd>${r.version}</dd>
<dt>Config hash</dt><dd><span class="hash">${r.configHash}</span></dd>
<dt>Scratch</dt><dd>${r.scratchDir ?? '—'}${r.scratchKept ? ' (kept)' : ''}</dd>
<dt>Targets</dt><dd>RTO ${r.targets.rtoMs === null ? 'none' : formatDuration(r.targets.rtoMs)}, RPO ${r.targets.rpoMs === null ? 'none' : formatDuration(r.targets.rpoMs)}</dd>
</dl></div><div>
<h2>Timings</h2>
${timings(r)}
</div></div>
<h2>Backup set</h2>
${setFacts(r)}
<h2>Sample</h2>
${sampleFacts(r, extras.itemsTotal)}
<h2>Checks</h2>
${checksTable(r.checks)}
${commandsSection(r)}
${reviewsSection(r, extras)}
<h2>Evidence chain</h2>
<dl class="facts">
<dt>Position</dt><dd>seq ${run.seq}</dd>
<dt>prev_hash</dt><dd><span class="hash">${run.prevHash}</span></dd>
<dt>record_hash</dt><dd><span class="hash">${run.recordHash}</span></dd>
<dt>Items digest</dt><dd>${r.itemsDigest ? html`<span class="hash">${r.itemsDigest}</span>` : '—'}</dd>
<dt>Neighbours</dt><dd>${extras.previous ? html`<a href="${runHref(extras.previous.runId)}">← seq ${extras.previous.seq}</a>` : html`<span class="muted">first record</span>`} · ${extras.next ? html`<a href="${runHref(extras.next.runId)}">seq ${extras.next.seq} →</a>` : html`<span class="muted">newest record</span>`}</dd>
</dl>
<p class="muted small">record_hash = sha256(prev_hash + "\\n" + the record's canonical JSON); <code>restore-drill evidence verify</code> recomputes the whole chain. The record as stored: <a href="${`/api/runs/${encodeURIComponent(r.runId)}`}">JSON</a>.</p>`;
  return page(`Run ${r.runId.slice(0, 8)} of ${r.drill}`, null, body);
}

function verdictCallout(r: RunRecord): SafeHtml {
  if (r.verdict === 'passed') {
    return html`<div class="callout ok"><h3>Passed</h3>${r.restored.files} files, ${formatBytes(r.restored.bytes)} restored and verified in ${formatDuration(r.timings.restoreMs + r.timings.verifyMs)}.</div>`;
  }
  const failed = r.checks.filter((check) => check.verdict === 'failed');
  const firstFindings = failed.flatMap((check) =>
    (check.findings ?? []).slice(0, 3).map((finding) => ({ check: check.name, finding })),
  );
  return html`<div class="callout"><h3>${r.verdict === 'failed' ? 'Failed' : r.verdict.replace('_', ' ')}${r.cause ? html`: ${r.cause}` : null}</h3>
${failed.length > 0 ? html`<div>Failed checks: ${failed.map((check, index) => html`${index > 0 ? ', ' : ''}<a href="#check-${check.name}"><b>${check.name}</b></a>`)}</div>` : null}
${firstFindings.length > 0 ? html`<ul class="small">${firstFindings.map(({ check, finding }) => html`<li>${check}: ${finding.problem} <code>${finding.item}</code>${expectation(finding.expected, finding.actual)}</li>`)}</ul>` : null}</div>`;
}

function expectation(expected: unknown, actual: unknown): SafeHtml | null {
  if (expected === undefined && actual === undefined) return null;
  return html` — expected ${value(expected)}, found ${value(actual)}`;
}

/** A recorded value as compact JSON in code type; a dash for nothing. */
function value(data: unknown): SafeHtml {
  if (data === undefined) return html`<span class="muted">—</span>`;
  const text = typeof data === 'string' ? data : JSON.stringify(data);
  return html`<code>${text}</code>`;
}

const PHASES = [
  ['select', 'selectMs', '#8c959f'],
  ['restore', 'restoreMs', '#0969da'],
  ['verify', 'verifyMs', '#8250df'],
  ['clean-up', 'cleanupMs', '#bf8700'],
] as const;

function timings(r: RunRecord): SafeHtml {
  const t = r.timings;
  const total = Math.max(
    t.totalMs,
    PHASES.reduce((sum, [, key]) => sum + t[key], 0),
    1,
  );
  const width = 480;
  let x = 0;
  const bars = PHASES.map(([label, key, colour]) => {
    const w = (t[key] / total) * width;
    const rect = html`<rect x="${x.toFixed(1)}" y="0" width="${Math.max(w, 0).toFixed(1)}" height="18" fill="${colour}"><title>${label} ${formatDuration(t[key])}</title></rect>`;
    x += w;
    return rect;
  });
  const rows = PHASES.map(
    ([label, key, colour]) =>
      html`<tr><td><svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" fill="${colour}"/></svg> ${label}</td><td class="num">${formatDuration(t[key])}</td><td class="num">${t[key].toFixed(0)} ms</td></tr>`,
  );
  return html`<svg class="strip" viewBox="0 0 ${width} 18" width="${width}" height="18" role="img" aria-label="Time per phase: ${PHASES.map(([label, key]) => `${label} ${formatDuration(t[key])}`).join(', ')}">${bars}</svg>
<table class="timings"><thead><tr><th>Phase</th><th class="num">Duration</th><th class="num">Milliseconds</th></tr></thead><tbody>${rows}
<tr><td><b>total</b></td><td class="num"><b>${formatDuration(t.totalMs)}</b></td><td class="num">${t.totalMs.toFixed(0)} ms</td></tr></tbody></table>`;
}

function setFacts(r: RunRecord): SafeHtml {
  if (!r.set)
    return html`<p class="muted">No backup set was chosen (${r.sourceKind} source)${r.cause ? html`: ${r.cause}` : null}.</p>`;
  const s = r.set;
  return html`<dl class="facts">
<dt>Source kind</dt><dd>${r.sourceKind}</dd>
<dt>Set</dt><dd><code>${s.id}</code></dd>
<dt>Path</dt><dd><code>${s.path}</code></dd>
<dt>Size</dt><dd>${s.size === null ? '—' : `${formatBytes(s.size)} (${s.size} bytes)`}</dd>
<dt>Modified</dt><dd>${s.mtime ? exactTime(s.mtime) : '—'}</dd>
<dt>Set hash</dt><dd>${s.hash ? html`<span class="hash">${s.hash}</span>` : '—'}</dd>
<dt>Restored</dt><dd>${r.restored.files} files, ${r.restored.links === undefined ? '' : `${r.restored.links} links, `}${formatBytes(r.restored.bytes)} (${r.restored.bytes} bytes)${r.restored.tables === undefined ? '' : `, ${r.restored.tables} tables`}</dd>
</dl>`;
}

function sampleFacts(r: RunRecord, itemsTotal: number): SafeHtml {
  const itemsLink = html`<a href="${href(`/runs/${encodeURIComponent(r.runId)}/items`)}">all ${itemsTotal} restored items with size and SHA-256</a>`;
  if (!r.sample)
    return html`<p>The whole set was restored (no sample drawn). ${itemsTotal > 0 ? html`See ${itemsLink}.` : null}</p>`;
  const s = r.sample;
  const shown = s.items.slice(0, SAMPLE_ITEMS_SHOWN);
  return html`<dl class="facts">
<dt>Sample as configured</dt><dd>${value(s.spec)}</dd>
<dt>Seed</dt><dd><code>${s.seed}</code> <span class="muted small">(the same seed over the same item list draws the same sample: <code>restore-drill run --replay ${r.runId.slice(0, 8)}</code>)</span></dd>
<dt>Items chosen</dt><dd>${s.selectedItems} of ${s.totalItems ?? '?'}${s.selectedBytes === null ? '' : `, ${formatBytes(s.selectedBytes)}`}</dd>
${s.coverage === null || s.coverage === undefined ? null : html`<dt>Coverage this cycle</dt><dd>${(s.coverage * 100).toFixed(1)}% of the set</dd>`}
${s.assurance ? html`<dt>Assurance</dt><dd>${describeAssurance(r)}</dd>` : null}
</dl>
<h3>First ${shown.length} of ${s.selectedItems} chosen items</h3>
${shown.length === 0 ? html`<p class="muted">None.</p>` : html`<pre>${shown.join('\n')}</pre>`}
<p>${itemsLink}</p>`;
}

function checksTable(checks: readonly CheckResult[]): SafeHtml {
  if (checks.length === 0) return html`<p class="muted">No checks were recorded.</p>`;
  const rows = checks.map((check) => {
    const findings = check.findings ?? [];
    const head = html`<tr id="check-${check.name}" class="${check.verdict === 'failed' ? 'check-failed' : ''}"><td><b>${check.name}</b></td><td>${check.verdict === 'passed' ? html`<span class="ok">passed</span>` : check.verdict === 'failed' ? html`<span class="bad">failed</span>` : html`<span class="badge waived">warning</span>`}</td>
<td>${value(check.expected)}</td><td>${value(check.actual)}</td><td>${check.detail}</td></tr>`;
    if (findings.length === 0) return head;
    const total = check.findingsTotal ?? findings.length;
    const list = findings.map(
      (finding) =>
        html`<tr><td><code>${finding.item}</code></td><td>${finding.problem}</td><td>${value(finding.expected)}</td><td>${value(finding.actual)}</td></tr>`,
    );
    return html`${head}<tr class="findings"><td colspan="5"><table class="findings"><thead><tr><th>Item</th><th>Problem</th><th>Expected</th><th>Found</th></tr></thead><tbody>${list}</tbody></table>
${total > findings.length ? html`<div class="muted small">${findings.length} of ${total} findings kept in the record.</div>` : null}</td></tr>`;
  });
  return html`<table class="checks"><thead><tr><th>Check</th><th>Verdict</th><th>Expected</th><th>Actual</th><th>Detail</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function commandsSection(r: RunRecord): SafeHtml | null {
  if (r.commands.length === 0) return null;
  const rows = r.commands.map(
    (
      command,
    ) => html`<tr><td><code>${command.command}</code></td><td>${command.exitCode ?? command.signal ?? '?'}${command.timedOut ? ' (timed out)' : ''}${command.canceled ? ' (canceled)' : ''}</td><td class="num">${formatDuration(command.durationMs)}</td>
<td>${command.stderrTail === '' ? html`<span class="muted">—</span>` : html`<pre>${command.stderrTail}</pre>`}</td></tr>`,
  );
  return html`<h2>Commands</h2><table><thead><tr><th>Command</th><th>Exit</th><th class="num">Duration</th><th>End of stderr</th></tr></thead><tbody>${rows}</tbody></table>`;
}

/** The run's sign-offs, and for a run that did not pass, the form (signed-in reviewer) or how to sign it off. */
function reviewsSection(r: RunRecord, extras: RunPageExtras): SafeHtml | null {
  if (r.verdict === 'passed' && extras.reviews.length === 0) return null;
  const list =
    extras.reviews.length === 0
      ? html`<p class="muted">Not reviewed: nobody has signed this run off.</p>`
      : html`<table class="reviews"><thead><tr><th>When</th><th>Reviewer</th><th>Decision</th><th>Note</th><th>Ticket</th><th>Via</th><th>seq</th></tr></thead><tbody>${extras.reviews.map(
          (review) =>
            html`<tr><td>${exactTime(review.reviewedAt)}</td><td>${review.by}</td><td><b>${review.decision}</b></td><td>${review.note}</td><td>${review.ticket ?? '—'}</td><td>${review.via}</td><td>${review.seq}</td></tr>`,
        )}</tbody></table>${extras.reviews.length > 1 ? html`<p class="muted small">The latest review stands; earlier ones stay in the chain.</p>` : null}`;
  return html`<h2 id="reviews">Reviews</h2>
${list}
${r.verdict === 'passed' ? null : signoffPart(r, extras.signoff)}`;
}

function signoffPart(r: RunRecord, signoff: RunPageExtras['signoff']): SafeHtml {
  const { reviewer } = signoff;
  if (reviewer === null) {
    return signoff.enabled
      ? html`<p><a href="${href('/signin', { next: runHref(r.runId) })}">Sign in as a reviewer</a> to sign this run off.</p>`
      : html`<p class="muted small">Sign it off with <code>restore-drill signoff ${r.runId} --by NAME --decision accepted|remediation|risk-accepted --note TEXT</code>.</p>`;
  }
  const action = `/runs/${encodeURIComponent(r.runId)}/reviews`;
  return html`<h3>Sign off as ${reviewer.user}</h3>
<form method="post" action="${action}" class="signoff">
<input type="hidden" name="csrf" value="${reviewer.csrf}">
<p><label>Decision <select name="decision" required>${REVIEW_DECISIONS.map((decision) => html`<option value="${decision}">${decision}</option>`)}</select></label></p>
<p><label>Note <textarea name="note" rows="3" cols="60" maxlength="4000" required></textarea></label></p>
<p><label>Ticket <input name="ticket" maxlength="200"></label> <span class="muted small">optional</span></p>
<p><button type="submit">Sign off</button></p>
</form>
<form method="post" action="/signout" class="signout"><input type="hidden" name="csrf" value="${reviewer.csrf}"><button type="submit">Sign out</button></form>
<p class="muted small">The review is appended to the evidence chain under your user name; it can never be edited (sign off again to record a later decision).</p>`;
}

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvidenceStore } from '../../src/evidence/open-store.js';
import type { RunRecord } from '../../src/evidence/run-record.js';
import { recordReview } from '../../src/evidence/reviews.js';
import { recordRunResult, recordRunStart } from '../../src/evidence/runs.js';
import type { SummaryDrill } from '../../src/report/drill-summary.js';
import { loadEvidenceSummary, streamRunRows } from '../../src/report/load-summary.js';
import { oscalAssessmentResultsSchema } from '../../src/report/oscal-schema.js';
import { nistOscalProblems } from '../helpers/nist-oscal.js';
import { renderHtmlReport } from '../../src/report/render-html.js';
import { renderOscalReport } from '../../src/report/render-oscal.js';
import { postgresEngine, SLOW_STORE_MS, type StorePlace } from '../helpers/evidence-engines.js';
import { startOf } from '../helpers/run-records.js';
import { makeRecord } from './make-record.js';

const NOW = new Date('2026-06-30T12:00:00Z');
const DAY = 86_400_000;
const ago = (days: number) => new Date(NOW.getTime() - days * DAY).toISOString();

const drills: SummaryDrill[] = [
  { name: 'nightly', maxAge: 2 * DAY, controls: ['CP-4'] },
  { name: 'weekly', maxAge: 8 * DAY, controls: ['CP-9'] },
];

describe('reviews of failed runs in reports', () => {
  let place: StorePlace;
  let evidence: EvidenceStore;
  const runs = {
    beforeWindow: makeRecord({ drill: 'nightly', at: ago(60), verdict: 'failed' }),
    unreviewed: makeRecord({ drill: 'nightly', at: ago(20), verdict: 'failed' }),
    reviewed: makeRecord({ drill: 'weekly', at: ago(10), verdict: 'failed' }),
    recent: makeRecord({ drill: 'nightly', at: ago(2), verdict: 'failed' }),
    passed: makeRecord({ drill: 'weekly', at: ago(1) }),
    reviewedOld: makeRecord({ drill: 'weekly', at: ago(50), verdict: 'failed' }),
  } satisfies Record<string, RunRecord>;

  beforeAll(async () => {
    place = await postgresEngine.prepare();
    evidence = await place.open();
    for (const record of Object.values(runs)) {
      await recordRunStart(evidence.db, startOf(record));
      await recordRunResult(evidence.db, record, []);
    }
    const signoff = (runId: string, by: string, decision: 'remediation' | 'accepted', at: string) =>
      recordReview(
        evidence.db,
        { runId, by, decision, note: `${decision} by ${by}`, ticket: 'OPS-3', via: 'cli' },
        { now: new Date(at) },
      );
    await signoff(runs.reviewed.runId, 'alice', 'remediation', ago(9));
    await signoff(runs.reviewed.runId, 'bob', 'accepted', ago(8));
    await signoff(runs.reviewedOld.runId, 'carol', 'accepted', ago(49));
  }, SLOW_STORE_MS);

  afterAll(async () => {
    await evidence?.close();
    await place?.cleanup();
  });

  const load = () =>
    loadEvidenceSummary(evidence.db, drills, {
      since: new Date(NOW.getTime() - 30 * DAY),
      now: NOW,
      maxUnreviewedMs: 7 * DAY,
    });

  it('lists unreviewed failures past review.maxUnreviewed oldest first (before the window too), and every failed run in the window with its latest review', async () => {
    const summary = await load();
    expect(summary.unreviewedFailures?.map((run) => run.runId)).toEqual([
      runs.beforeWindow.runId,
      runs.unreviewed.runId,
    ]);
    expect(summary.unreviewedFailures?.[0]).toMatchObject({ review: null, overdue: true });
    expect(summary.reviews?.maxUnreviewedMs).toBe(7 * DAY);
    expect(
      summary.reviews?.failures.map((run) => [run.runId, run.review?.by ?? null, run.overdue]),
    ).toEqual([
      [runs.recent.runId, null, false],
      [runs.reviewed.runId, 'bob', false],
      [runs.unreviewed.runId, null, true],
    ]);
    expect(summary.reviews?.failures[1]).toMatchObject({
      reviews: 2,
      review: {
        by: 'bob',
        decision: 'accepted',
        reviewedAt: ago(8),
        note: 'accepted by bob',
        ticket: 'OPS-3',
        via: 'cli',
      },
    });
  });

  it('HTML puts the unreviewed failures at the top and shows each review; OSCAL findings carry the latest review as props', async () => {
    const summary = await load();
    const page = renderHtmlReport(summary);
    const top = page.indexOf('Unreviewed failures (2)');
    expect(top).toBeGreaterThan(0);
    expect(top).toBeLessThan(page.indexOf('class="totals"'));
    expect(page.indexOf(runs.beforeWindow.runId, top)).toBeLessThan(
      page.indexOf(runs.unreviewed.runId, top),
    );
    expect(page).toContain('<b>accepted</b> by bob (CLI)');
    expect(page).toMatch(/not reviewed/);

    const rows = streamRunRows(evidence.db, {
      since: new Date(NOW.getTime() - 30 * DAY),
      until: NOW,
    });
    const document = await renderOscalReport(summary, rows);
    expect(oscalAssessmentResultsSchema.safeParse(document).success).toBe(true);
    expect(nistOscalProblems(document)).toEqual([]);
    const findings = document['assessment-results'].results[0]?.findings ?? [];
    const propsOf = (control: string) =>
      Object.fromEntries(
        (
          findings.find((finding) => finding.props?.some((p) => p.value === control))?.props ?? []
        ).map((p) => [p.name, p.value]),
      );
    expect(propsOf('CP-9')).toMatchObject({
      'review-by': 'bob',
      'review-decision': 'accepted',
      'review-time': ago(8),
      'reviewed-run': runs.reviewed.runId,
      'review-ticket': 'OPS-3',
      'review-via': 'cli',
    });
    expect(propsOf('CP-4')['review-by']).toBeUndefined();
  });

  it('leaves reviews out, rather than empty, when they were not loaded', async () => {
    const summary = await loadEvidenceSummary(evidence.db, drills, {
      since: new Date(NOW.getTime() - 30 * DAY),
      now: NOW,
    });
    expect(summary).not.toHaveProperty('unreviewedFailures');
    expect(summary).not.toHaveProperty('reviews');
    expect(renderHtmlReport(summary)).not.toContain('Reviews of failed runs');
  });
});

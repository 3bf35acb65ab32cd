import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvidenceStore } from '../../src/evidence/open-store.js';
import type { RunRecord } from '../../src/evidence/run-record.js';
import { recordRunResult, recordRunStart } from '../../src/evidence/runs.js';
import { summarizeRecords } from '../../src/report/drill-summary.js';
import { renderHtmlReport } from '../../src/report/render-html.js';
import {
  drillsWithEvidence,
  loadChainHead,
  loadSelftests,
  loadDrillFacts,
  loadEvidenceRestorable,
  loadEvidenceSummary,
  streamRunRows,
} from '../../src/report/load-summary.js';
import { engines, type StorePlace } from '../helpers/evidence-engines.js';
import { startOf } from '../helpers/run-records.js';
import { makeRecord } from './make-record.js';
import { DAY, NOW, ago, reportFixture } from './report-fixture.js';

/** Drops what only the database knows (chain positions and hashes), to compare with the in-memory path. */
function withoutChainFields(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (key, inner: unknown) =>
      key === 'seq' || key === 'recordHash' ? undefined : inner,
    ),
  );
}

async function store(db: EvidenceStore['db'], records: readonly RunRecord[]): Promise<void> {
  for (const record of records) {
    await recordRunStart(db, startOf(record));
    await recordRunResult(db, record, []);
  }
}

describe.each(engines)('summary loaded from the evidence database on %s', (_dialect, engine) => {
  let place: StorePlace;
  let evidence: EvidenceStore;
  const { drills, records } = reportFixture();
  const since = new Date(NOW.getTime() - 90 * DAY);
  // A retired drill, and a run after `until` that must not count.
  const extra = [
    makeRecord({ drill: 'retired', at: ago(5), verdict: 'failed' }),
    makeRecord({ drill: 'all-passing', at: ago(-1), verdict: 'failed' }),
  ];

  beforeAll(async () => {
    place = await engine.prepare();
    evidence = await place.open();
    await store(evidence.db, [...records, ...extra]);
  });

  afterAll(async () => {
    await evidence?.close();
    await place?.cleanup();
  });

  it('gives the same summary as the in-memory path over the same runs', async () => {
    const fromDb = await loadEvidenceSummary(evidence.db, drills, { since, now: NOW });
    const inMemory = summarizeRecords(drills, [...records, ...extra], {
      now: NOW,
      since,
      until: NOW,
      chain: await loadChainHead(evidence.db),
      selftests: await loadSelftests(
        evidence.db,
        drills.map((drill) => drill.name),
      ),
      evidenceRestorable: await loadEvidenceRestorable(evidence.db, drills),
    });
    expect(withoutChainFields(fromDb)).toEqual(withoutChainFields(inMemory));
    // No drill restores the evidence store's backups: never proven, said plainly.
    expect(fromDb.evidenceRestorable).toEqual({ drills: [], lastPass: null });
    expect(fromDb.drills.map((drill) => drill.name)).toEqual([
      'no-runs',
      'waived-expired',
      'overdue',
      'failing',
      'waived-active',
      'all-passing',
      'retired',
    ]);
    expect(fromDb.totals).toMatchObject({ runs: 37, red: 4 + 1 });
  });

  it('carries chain positions: seq on notable and recent runs, and the chain head', async () => {
    const summary = await loadEvidenceSummary(evidence.db, drills, { since, now: NOW });
    const head = await loadChainHead(evidence.db);
    expect(summary.chain).toEqual(head);
    expect(head?.recordHash).toMatch(/^[0-9a-f]{64}$/);
    const passing = summary.drills.find((drill) => drill.name === 'all-passing');
    expect(passing?.lastPass?.seq).toBeGreaterThan(0);
    expect(passing?.recent).toHaveLength(30);
    expect(
      passing?.recent.every(
        (point, index, all) =>
          index === 0 || point.startedAt >= (all[index - 1] as typeof point).startedAt,
      ),
    ).toBe(true);
    expect(passing?.rto.medianMs).toBe(60_000 + 15_500);
  });

  it('limits to the drills asked for and keeps at most recentLimit recent runs', async () => {
    const facts = await loadDrillFacts(evidence.db, {
      since,
      until: NOW,
      drills: [],
      only: ['all-passing'],
      recentLimit: 5,
    });
    expect(facts.map((entry) => entry.drill)).toEqual(['all-passing']);
    expect(facts[0]?.recent.map((point) => point.startedAt)).toEqual(
      records
        .filter((record) => record.drill === 'all-passing')
        .slice(-5)
        .map((record) => record.startedAt),
    );
    expect(facts[0]?.verdicts.passed).toBe(30);
  });

  it('streams every run of the window as CSV rows in chain order, in batches', async () => {
    const rows = [];
    for await (const row of streamRunRows(evidence.db, { since, until: NOW, batchSize: 7 }))
      rows.push(row);
    expect(rows).toHaveLength(37);
    expect(rows.map((row) => row.seq)).toEqual(
      [...rows.map((row) => row.seq)].sort((a, b) => (a ?? 0) - (b ?? 0)),
    );
    const hostile = rows.find((row) => row.drill === 'failing' && row.verdict === 'failed');
    expect(hostile?.cause).toContain('<script>');
    expect(hostile?.setAgeMs).toBe(3_600_000);
    const only = [];
    for await (const row of streamRunRows(evidence.db, { since, until: NOW, only: ['overdue'] }))
      only.push(row);
    expect(only.map((row) => row.drill)).toEqual(['overdue']);
  });

  it('tells which drill names have evidence', async () => {
    expect(await drillsWithEvidence(evidence.db, ['retired', 'no-runs', 'nothing'])).toEqual(
      new Set(['retired']),
    );
  });

  // Last: it adds runs of its own drills, which the whole-window tests above would count.
  it('says when the evidence store was last proven restorable: the newest pass of an evidence-backup drill', async () => {
    const kind = { kind: 'evidence-backup' };
    const proven = [
      makeRecord({ drill: 'evidence-a', at: ago(20), verdict: 'passed' }),
      makeRecord({ drill: 'evidence-b', at: ago(3), verdict: 'passed' }),
      makeRecord({ drill: 'evidence-a', at: ago(1), verdict: 'failed' }),
    ];
    await store(evidence.db, proven);
    const evidenceDrills = [
      { name: 'evidence-a', source: kind },
      { name: 'evidence-b', source: kind },
      { name: 'evidence-never', source: kind },
      { name: 'files', source: { kind: 'directory' } },
    ];
    expect(await loadEvidenceRestorable(evidence.db, evidenceDrills)).toEqual({
      drills: ['evidence-a', 'evidence-b', 'evidence-never'],
      lastPass: {
        runId: proven[1]!.runId,
        drill: 'evidence-b',
        startedAt: proven[1]!.startedAt,
        finishedAt: proven[1]!.finishedAt,
      },
    });
    expect(
      await loadEvidenceRestorable(evidence.db, [{ name: 'evidence-never', source: kind }]),
    ).toEqual({ drills: ['evidence-never'], lastPass: null });
    const summary = await loadEvidenceSummary(evidence.db, evidenceDrills, { since, now: NOW });
    expect(summary.evidenceRestorable?.lastPass?.drill).toBe('evidence-b');
    const page = renderHtmlReport(summary);
    expect(page).toContain('Evidence store last proven restorable:');
    expect(page).toContain(`by drill evidence-b (run ${proven[1]!.runId.slice(0, 8)})`);
    expect(
      renderHtmlReport(await loadEvidenceSummary(evidence.db, [], { since, now: NOW })),
    ).toMatch(/last proven restorable: <strong>never<\/strong> \(no drill restores its backups/);
  });
});

import type { RunRecord } from '../../src/evidence/run-record.js';
import {
  summarizeRecords,
  type EvidenceSummary,
  type SummaryDrill,
} from '../../src/report/drill-summary.js';
import { makeRecord } from './make-record.js';

export const DAY = 86_400_000;
export const NOW = new Date('2026-03-01T12:00:00Z');
export const ago = (days: number) => new Date(NOW.getTime() - days * DAY).toISOString();

/** A cause that would run script if it ever reached the page as markup. */
export const HOSTILE = `<script>alert("x")</script><img src=x onerror=alert(1)> & 'quoted' "=cmd|' /C calc'!A0"`;

/**
 * Drills in every state a report must show: no runs, all passing, failing,
 * overdue, waived by an active waiver, with an expired waiver, and hostile text
 * in a cause, a description, an owner and a set path.
 */
export function reportFixture(): {
  drills: SummaryDrill[];
  records: RunRecord[];
  summary: EvidenceSummary;
} {
  const drills: SummaryDrill[] = [
    { name: 'no-runs', owner: 'dba', maxAge: 8 * DAY, controls: ['ISO27001:A.8.13'] },
    {
      name: 'all-passing',
      owner: 'infra',
      description: 'Nightly file server',
      maxAge: 2 * DAY,
      targets: { rto: 15 * 60_000, rpo: 26 * 3_600_000 },
      controls: ['ISO27001:A.8.13', 'SOC2:CC9.1'],
      tags: ['tier-1'],
    },
    {
      name: 'failing',
      owner: `ops <b>team</b>`,
      description: HOSTILE,
      maxAge: 8 * DAY,
      targets: { rto: 60_000 },
      controls: ['SOC2:CC9.1'],
    },
    { name: 'overdue', owner: 'infra', maxAge: 8 * DAY },
    {
      name: 'waived-active',
      owner: 'app',
      controls: ['OWN-7'],
      waivers: [
        {
          owner: 'ciso',
          reason: 'manifest is rebuilt during the migration',
          expires: '2026-04-30',
          checks: ['manifest'],
        },
      ],
    },
    {
      name: 'waived-expired',
      owner: 'app',
      maxAge: 8 * DAY,
      waivers: [{ owner: 'cto', reason: `paused during move ${HOSTILE}`, expires: '2026-02-01' }],
    },
  ];
  const records: RunRecord[] = [];
  for (let day = 30; day >= 1; day--) {
    records.push(
      makeRecord({
        drill: 'all-passing',
        at: ago(day),
        restoreMs: 40_000 + day * 1000,
        verifyMs: 20_000,
      }),
    );
  }
  records.push(
    makeRecord({ drill: 'failing', at: ago(6) }),
    makeRecord({
      drill: 'failing',
      at: ago(3),
      verdict: 'failed',
      failed: ['manifest'],
      cause: HOSTILE,
      setPath: `/backups/<evil>&"x".tar`,
    }),
    makeRecord({ drill: 'overdue', at: ago(20) }),
    makeRecord({ drill: 'waived-active', at: ago(9) }),
    makeRecord({ drill: 'waived-active', at: ago(2), verdict: 'failed', failed: ['manifest'] }),
    makeRecord({
      drill: 'waived-expired',
      at: ago(40),
      verdict: 'error',
      cause: 'no backup set matched',
    }),
  );
  const summary = summarizeRecords(drills, records, {
    now: NOW,
    since: new Date(NOW.getTime() - 90 * DAY),
    until: NOW,
    chain: { seq: 42, recordHash: 'ab'.repeat(32) },
  });
  return { drills, records, summary };
}

import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { RunRecord } from '../../src/evidence/run-record.js';
import {
  factsFromRecords,
  MEDIAN_SAMPLE,
  median,
  summarizeRecords,
  type DrillSummary,
  type SummaryDrill,
} from '../../src/report/drill-summary.js';
import { makeRecord } from './make-record.js';

const DAY = 86_400_000;
const now = new Date('2026-03-01T12:00:00Z');
const since = new Date(now.getTime() - 90 * DAY);
const ago = (days: number) => new Date(now.getTime() - days * DAY).toISOString();
const window = { now, since, until: now };

function drillOf(summary: { drills: DrillSummary[] }, name: string): DrillSummary {
  const found = summary.drills.find((drill) => drill.name === name);
  if (!found) throw new Error(`no drill ${name} in summary`);
  return found;
}

describe('drill summary', () => {
  it('counts runs, passes and the pass rate in the window, and keeps the last pass, run and failure', () => {
    const records = [
      makeRecord({ drill: 'nightly', at: ago(5), restoreMs: 1000, verifyMs: 1000 }),
      makeRecord({
        drill: 'nightly',
        at: ago(4),
        verdict: 'failed',
        cause: 'manifest: 1 file changed (etc/passwd)',
      }),
      makeRecord({ drill: 'nightly', at: ago(3), restoreMs: 3000, verifyMs: 1000 }),
      makeRecord({ drill: 'nightly', at: ago(2), restoreMs: 2000, verifyMs: 1000 }),
    ];
    const summary = summarizeRecords(
      [{ name: 'nightly', owner: 'infra', maxAge: 8 * DAY, targets: { rto: 3500 } }],
      records,
      window,
    );
    const drill = drillOf(summary, 'nightly');
    expect(drill).toMatchObject({
      runs: 4,
      passes: 3,
      passRate: 0.75,
      state: 'green',
      concerns: [],
      overdue: false,
      neverPassed: false,
      owner: 'infra',
    });
    expect(drill.verdicts).toEqual({ passed: 3, failed: 1, error: 0, timed_out: 0, aborted: 0 });
    expect(drill.lastRun?.runId).toBe(records[3]!.runId);
    expect(drill.lastPass?.runId).toBe(records[3]!.runId);
    expect(drill.lastFailure).toMatchObject({
      runId: records[1]!.runId,
      cause: 'manifest: 1 file changed (etc/passwd)',
    });
    expect(drill.lastFailure?.failedChecks).toEqual([
      { name: 'manifest', detail: 'manifest failed: 1 file changed (data/a.txt)' },
    ]);
    // RTO: the last pass (3 s) against 3.5 s; median and max over the three passes.
    expect(drill.rto).toEqual({
      targetMs: 3500,
      lastMs: 3000,
      met: true,
      maxMs: 4000,
      medianMs: 3000,
    });
    expect(drill.recent.map((point) => point.runId)).toEqual(records.map((record) => record.runId));
  });

  it('flags a drill with no runs at all as never passed, red and overdue, first among findings', () => {
    const summary = summarizeRecords(
      [
        { name: 'healthy', maxAge: 8 * DAY },
        { name: 'empty', owner: 'dba', maxAge: 8 * DAY },
      ],
      [makeRecord({ drill: 'healthy', at: ago(1) })],
      window,
    );
    const empty = drillOf(summary, 'empty');
    expect(empty).toMatchObject({
      runs: 0,
      passRate: null,
      neverPassed: true,
      overdue: true,
      state: 'red',
      concerns: ['never-passed'],
      lastRun: null,
    });
    expect(summary.drills.map((drill) => drill.name)).toEqual(['empty', 'healthy']);
    expect(summary.coverage.findings[0]).toEqual({
      drill: 'empty',
      owner: 'dba',
      kind: 'never-passed',
      detail: 'no run recorded; maxAge 8d',
      waived: false,
    });
    expect(summary.totals).toMatchObject({
      drills: 2,
      runs: 1,
      passes: 1,
      green: 1,
      red: 1,
      neverPassed: 1,
      overdue: 1,
    });
  });

  it('marks a drill overdue when its last pass is older than maxAge, even when that pass is before the window', () => {
    const records = [
      makeRecord({ drill: 'weekly', at: ago(100) }),
      makeRecord({
        drill: 'weekly',
        at: ago(20),
        verdict: 'error',
        cause: 'no backup set matched /b/*.tar',
      }),
    ];
    const summary = summarizeRecords([{ name: 'weekly', maxAge: 8 * DAY }], records, window);
    const drill = drillOf(summary, 'weekly');
    expect(drill).toMatchObject({
      runs: 1,
      passes: 0,
      passRate: 0,
      overdue: true,
      neverPassed: false,
      state: 'red',
      concerns: ['overdue', 'last-run-failed'],
    });
    expect(drill.lastPass?.runId).toBe(records[0]!.runId);
    expect(drill.lastPassAgeMs).toBeGreaterThan(99 * DAY);
    const kinds = summary.coverage.findings.map((finding) => finding.kind);
    expect(kinds).toEqual(['overdue', 'last-run-failed']);
    expect(summary.coverage.findings[1]?.detail).toBe(
      `last run ${ago(20).slice(0, 10)} error: no backup set matched /b/*.tar`,
    );
  });

  it('a drill without maxAge is never overdue, but one that never passed is still red', () => {
    const summary = summarizeRecords(
      [{ name: 'adhoc' }],
      [makeRecord({ drill: 'adhoc', at: ago(300) })],
      window,
    );
    expect(drillOf(summary, 'adhoc')).toMatchObject({ overdue: false, state: 'green', runs: 0 });
    const never = summarizeRecords(
      [{ name: 'adhoc' }],
      [makeRecord({ drill: 'adhoc', at: ago(3), verdict: 'failed' })],
      window,
    );
    expect(drillOf(never, 'adhoc')).toMatchObject({
      overdue: false,
      neverPassed: true,
      state: 'red',
      concerns: ['never-passed', 'last-run-failed'],
    });
  });

  it('an active waiver naming the failing check turns the drill waived; the finding stays listed as waived', () => {
    const drills: SummaryDrill[] = [
      {
        name: 'legacy',
        maxAge: 8 * DAY,
        waivers: [
          {
            owner: 'ciso',
            reason: 'manifest regenerated in March',
            expires: '2026-03-31',
            checks: ['manifest'],
          },
        ],
      },
    ];
    const records = [
      makeRecord({ drill: 'legacy', at: ago(2), verdict: 'passed' }),
      makeRecord({ drill: 'legacy', at: ago(1), verdict: 'failed', failed: ['manifest'] }),
    ];
    const summary = summarizeRecords(drills, records, window);
    const drill = drillOf(summary, 'legacy');
    expect(drill.state).toBe('waived');
    expect(drill.waivers).toEqual([
      {
        drill: 'legacy',
        owner: 'ciso',
        reason: 'manifest regenerated in March',
        expires: '2026-03-31',
        checks: ['manifest'],
        active: true,
        daysLeft: 30,
        inUse: true,
      },
    ]);
    expect(summary.coverage.findings).toMatchObject([
      { drill: 'legacy', kind: 'last-run-failed', waived: true },
    ]);
    expect(summary.totals).toMatchObject({ waived: 1, red: 0, expiredWaivers: 0 });
  });

  it('a waiver naming other checks does not cover a failure of a check it does not name', () => {
    const drills: SummaryDrill[] = [
      {
        name: 'legacy',
        waivers: [{ owner: 'ciso', reason: 'known', expires: '2026-12-31', checks: ['manifest'] }],
      },
    ];
    const records = [
      makeRecord({ drill: 'legacy', at: ago(2) }),
      makeRecord({ drill: 'legacy', at: ago(1), verdict: 'failed', failed: ['manifest', 'files'] }),
    ];
    const drill = drillOf(summarizeRecords(drills, records, window), 'legacy');
    expect(drill.state).toBe('red');
    expect(drill.waivers[0]).toMatchObject({ active: true, inUse: false });
  });

  it('an expired waiver covers nothing and is itself a finding', () => {
    const drills: SummaryDrill[] = [
      {
        name: 'paused',
        maxAge: 8 * DAY,
        owner: 'ops',
        waivers: [{ owner: 'cto', reason: 'datacentre move', expires: '2026-02-15' }],
      },
    ];
    const summary = summarizeRecords(drills, [], window);
    const drill = drillOf(summary, 'paused');
    expect(drill.state).toBe('red');
    expect(drill.waivers[0]).toMatchObject({ active: false, daysLeft: -14 });
    expect(summary.coverage.findings).toEqual([
      {
        drill: 'paused',
        owner: 'ops',
        kind: 'never-passed',
        detail: 'no run recorded; maxAge 8d',
        waived: false,
      },
      {
        drill: 'paused',
        owner: 'ops',
        kind: 'waiver-expired',
        detail: 'waiver by cto expired 2026-02-15 (datacentre move)',
        waived: false,
      },
    ]);
    expect(summary.totals.expiredWaivers).toBe(1);
  });

  it('a whole-drill waiver covers a paused drill that never ran, through the last day of its expiry date (UTC)', () => {
    const drills: SummaryDrill[] = [
      {
        name: 'paused',
        maxAge: 8 * DAY,
        waivers: [{ owner: 'cto', reason: 'datacentre move', expires: '2026-03-01' }],
      },
    ];
    expect(drillOf(summarizeRecords(drills, [], window), 'paused').state).toBe('waived');
    const lastMoment = new Date('2026-03-01T23:59:59.999Z');
    expect(
      drillOf(
        summarizeRecords(drills, [], { ...window, now: lastMoment, until: lastMoment }),
        'paused',
      ).state,
    ).toBe('waived');
    const nextDay = new Date('2026-03-02T00:00:00Z');
    expect(
      drillOf(summarizeRecords(drills, [], { ...window, now: nextDay, until: nextDay }), 'paused')
        .state,
    ).toBe('red');
  });

  it('compares RTO and RPO with their targets and reports a miss', () => {
    const records = [
      makeRecord({
        drill: 'db',
        at: ago(1),
        restoreMs: 20 * 60_000,
        verifyMs: 60_000,
        setAgeMs: 30 * 3_600_000,
      }),
    ];
    const summary = summarizeRecords(
      [{ name: 'db', targets: { rto: 15 * 60_000, rpo: 26 * 3_600_000 } }],
      records,
      window,
    );
    const drill = drillOf(summary, 'db');
    expect(drill.rto).toMatchObject({ targetMs: 900_000, lastMs: 1_260_000, met: false });
    expect(drill.rpo).toEqual({
      targetMs: 26 * 3_600_000,
      lastMs: 30 * 3_600_000,
      met: false,
      worstRecentMs: 30 * 3_600_000,
    });
    expect(drill.concerns).toEqual(['rto-missed', 'rpo-missed']);
    expect(summary.coverage.findings.map((finding) => finding.detail)).toEqual([
      'RTO 21m at the last pass, over the target 15m',
      'backup set was 1d6h old at the last run, over the RPO target 1d2h',
    ]);
  });

  it('builds the control matrix: a control is red when any drill evidencing it is red', () => {
    const drills: SummaryDrill[] = [
      { name: 'a', controls: ['ISO27001:A.8.13', 'SOC2:CC9.1'] },
      { name: 'b', controls: ['ISO27001:A.8.13'] },
      {
        name: 'c',
        controls: ['SOC2:CC9.1'],
        waivers: [{ owner: 'x', reason: 'y', expires: '2027-01-01' }],
      },
      { name: 'd' },
    ];
    const records = [
      makeRecord({ drill: 'a', at: ago(1) }),
      makeRecord({ drill: 'b', at: ago(1), verdict: 'failed' }),
      makeRecord({ drill: 'c', at: ago(1), verdict: 'failed' }),
      makeRecord({ drill: 'd', at: ago(1) }),
    ];
    const summary = summarizeRecords(drills, records, window);
    expect(summary.coverage.controls).toEqual([
      {
        control: 'ISO27001:A.8.13',
        state: 'red',
        drills: [
          { drill: 'b', state: 'red' },
          { drill: 'a', state: 'green' },
        ],
      },
      {
        control: 'SOC2:CC9.1',
        state: 'waived',
        drills: [
          { drill: 'c', state: 'waived' },
          { drill: 'a', state: 'green' },
        ],
      },
    ]);
    expect(summary.coverage.drillsWithoutControls).toEqual(['d']);
  });

  it('includes a drill no longer in the config when it has runs in the window, after the configured ones', () => {
    const records = [
      makeRecord({ drill: 'retired', at: ago(3) }),
      makeRecord({ drill: 'kept', at: ago(3) }),
      makeRecord({ drill: 'ancient', at: ago(200) }),
    ];
    const summary = summarizeRecords([{ name: 'kept' }], records, window);
    expect(summary.drills.map((drill) => [drill.name, drill.configured])).toEqual([
      ['kept', true],
      ['retired', false],
    ]);
  });

  it('limits the summary to the drills asked for', () => {
    const records = [
      makeRecord({ drill: 'a', at: ago(3) }),
      makeRecord({ drill: 'b', at: ago(3) }),
    ];
    const summary = summarizeRecords([{ name: 'a' }, { name: 'b' }], records, {
      ...window,
      only: ['b'],
    });
    expect(summary.drills.map((drill) => drill.name)).toEqual(['b']);
    expect(summary.totals.runs).toBe(1);
  });

  it('ignores runs started at or after `until` and keeps at most `recentLimit` recent runs, oldest first', () => {
    const records = Array.from({ length: 10 }, (_, index) =>
      makeRecord({ drill: 'a', at: ago(10 - index) }),
    );
    const until = new Date(Date.parse(records[8]!.startedAt));
    const facts = factsFromRecords(records, { since, until }, 3);
    expect(facts[0]?.verdicts.passed).toBe(8);
    expect(facts[0]?.recent.map((point) => point.runId)).toEqual(
      records.slice(5, 8).map((record) => record.runId),
    );
    expect(facts[0]?.lastRun?.runId).toBe(records[7]!.runId);
  });

  it('takes the RTO median over the newest MEDIAN_SAMPLE passes and the maximum over every pass in the window', () => {
    const records = Array.from({ length: MEDIAN_SAMPLE + 5 }, (_, index) =>
      makeRecord({
        drill: 'busy',
        at: new Date(since.getTime() + (index + 1) * 60_000).toISOString(),
        restoreMs: index < 5 ? 1_000_000 : 1000 + (index % 3),
        verifyMs: 0,
      }),
    );
    const drill = drillOf(summarizeRecords([{ name: 'busy' }], records, window), 'busy');
    expect(drill.rto.maxMs).toBe(1_000_000);
    expect(drill.rto.medianMs).toBe(1001);
  });

  it('takes the median as percentile_cont does', () => {
    expect(median([])).toBeNull();
    expect(median([5])).toBe(5);
    expect(median([4, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('serialises to JSON and back unchanged (no Dates, no undefined)', () => {
    const records: RunRecord[] = [
      makeRecord({ drill: 'a', at: ago(3) }),
      makeRecord({ drill: 'a', at: ago(2), verdict: 'timed_out', cause: 'timed out after 15m' }),
    ];
    const summary = summarizeRecords([{ name: 'a', targets: { rto: 60_000 } }], records, window);
    expect(JSON.parse(JSON.stringify(summary))).toEqual(summary);
  });
});

describe('drill config: controls and waivers', () => {
  it('parses controls and waivers with their defaults', () => {
    const { config } = parseConfig(
      `
drills:
  - name: nightly
    source: { kind: tar, path: /b/*.tar }
    controls: [ISO27001:A.8.13, SOC2:CC9.1]
    waivers:
      - { owner: ciso, reason: migration, expires: 2026-12-31, checks: [manifest] }
  - name: plain
    source: { kind: tar, path: /b/*.tar }
`,
      'drills.yaml',
    );
    expect(config.drills[0]?.controls).toEqual(['ISO27001:A.8.13', 'SOC2:CC9.1']);
    expect(config.drills[0]?.waivers).toEqual([
      { owner: 'ciso', reason: 'migration', expires: '2026-12-31', checks: ['manifest'] },
    ]);
    expect(config.drills[1]).toMatchObject({ controls: [], waivers: [] });
  });

  it('refuses a control id that spans lines or holds control characters, naming the entry', () => {
    const errorFor = (control: string): string => {
      try {
        parseConfig(
          JSON.stringify({
            drills: [
              {
                name: 'nightly',
                source: { kind: 'tar', path: '/b/*.tar' },
                controls: ['cp-4', control],
              },
            ],
          }),
          'drills.yaml',
        );
      } catch (error) {
        return (error as Error).message;
      }
      return 'no error';
    };
    for (const control of ['cp-9\nsecond line', 'cp\t9', 'cp-9\u0007']) {
      const message = errorFor(control);
      expect(message).toContain(
        'drills[0].controls[1]: expected a control id on one line, without control characters',
      );
      expect(message.split('\n')).toHaveLength(1);
    }
    expect(errorFor('SOC2:CC9.1 (backup)')).toBe('no error');
  });

  it('refuses a waiver with an impossible date, a missing reason or an empty checks list, naming each path', () => {
    let message = '';
    try {
      parseConfig(
        `
drills:
  - name: nightly
    source: { kind: tar, path: /b/*.tar }
    controls: ['']
    waivers:
      - owner: ciso
        expires: 2026-02-30
        checks: []
`,
        'drills.yaml',
      );
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('drills[0].controls[0]: expected a control id, e.g. ISO27001:A.8.13');
    expect(message).toContain(
      "drills[0].waivers[0].expires: expected a date written YYYY-MM-DD, e.g. '2026-12-31'",
    );
    expect(message).toContain('drills[0].waivers[0].reason: missing');
    expect(message).toContain('drills[0].waivers[0].checks: expected at least one check name');
  });
});

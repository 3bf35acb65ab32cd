import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvidenceSummary } from '../../src/report/drill-summary.js';
import { oscalAssessmentResultsSchema } from '../../src/report/oscal-schema.js';
import { nistOscalProblems } from '../helpers/nist-oscal.js';
import { RUN_COLUMNS, SUMMARY_COLUMNS } from '../../src/report/render-csv.js';
import { makeRecord } from '../report/make-record.js';
import { prepareCliPlace, restoreDrill, type CliPlace } from './evidence-fixture.js';

const DAY = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString();

// Every CLI call is a real process that opens the evidence database (PGlite: seconds each). The
// summary is loaded by the same code on both engines (test/report/load-summary.test.ts runs it on
// each): the embedded store (the default users meet) renders the HTML report, PostgreSQL every case.
describe.each(['pglite', 'postgres'] as const)(
  'restore-drill report on %s',
  { timeout: 60_000 },
  (engine) => {
    let place: CliPlace;
    const records = [
      makeRecord({ drill: 'nightly', at: ago(4), restoreMs: 60_000, verifyMs: 30_000 }),
      makeRecord({
        drill: 'nightly',
        at: ago(3),
        verdict: 'failed',
        failed: ['manifest'],
        cause: '<script>alert(1)</script> manifest: 1 file changed',
      }),
      makeRecord({ drill: 'nightly', at: ago(1), restoreMs: 50_000, verifyMs: 30_000 }),
      makeRecord({ drill: 'weekly', at: ago(10) }),
      makeRecord({ drill: 'weekly', at: ago(2), verdict: 'failed', failed: ['manifest'] }),
      makeRecord({ drill: 'retired', at: ago(20) }),
      makeRecord({ drill: 'nightly', at: ago(200) }),
    ];

    beforeAll(async () => {
      place = await prepareCliPlace(engine, records);
    }, 60_000);
    afterAll(async () => {
      await place?.cleanup();
    });

    it('writes one self-contained HTML file to stdout, findings first, hostile text escaped', async () => {
      const result = await restoreDrill(
        ['report', '--config', place.config, '--since', '90d'],
        place.dir,
      );
      expect(result.exitCode).toBe(0);
      const page = result.stdout;
      expect(page.startsWith('<!doctype html>')).toBe(true);
      expect(page).not.toMatch(/<script/i);
      expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt; manifest: 1 file changed');
      expect(page).not.toMatch(/(?:src|href)\s*=/i);
      expect(page.indexOf('<td>Never passed</td><td>never-run</td>')).toBeGreaterThan(0);
      expect(page.indexOf('<td>Never passed</td><td>never-run</td>')).toBeLessThan(
        page.indexOf('<td>Last run failed</td>'),
      );
      expect(page.match(/<section class="drill">/g)).toHaveLength(4);
    });

    // Beyond opening the store, the same code on both engines: PostgreSQL only.
    if (engine === 'pglite') return;

    it('writes the JSON summary model to a file with --out, limited to the drills asked for', async () => {
      const out = join(place.dir, 'summary.json');
      const result = await restoreDrill(
        [
          'report',
          '--config',
          place.config,
          '--format',
          'json',
          '--out',
          out,
          '--drill',
          'nightly',
          '--drill',
          'retired',
        ],
        place.dir,
      );
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toBe('');
      const summary = JSON.parse(await readFile(out, 'utf8')) as EvidenceSummary;
      expect(summary.drills.map((drill) => drill.name)).toEqual(['nightly', 'retired']);
      const nightly = summary.drills[0];
      expect(nightly).toMatchObject({
        runs: 3,
        passes: 2,
        state: 'green',
        lastFailure: { runId: records[1]?.runId },
        rto: { targetMs: 900_000, lastMs: 80_000, met: true, maxMs: 90_000, medianMs: 85_000 },
      });
      expect(nightly?.lastRun?.runId).toBe(records[2]?.runId);
      expect(summary.drills[1]).toMatchObject({ configured: false, runs: 1 });
      expect(summary.chain?.recordHash).toMatch(/^[0-9a-f]{64}$/);
    });

    it("writes OSCAL 1.1 assessment results for the period, valid against the schema of the model and NIST's schemas", async () => {
      const out = join(place.dir, 'results.oscal.json');
      const result = await restoreDrill(
        ['report', '--config', place.config, '--since', '90d', '--format', 'oscal', '--out', out],
        place.dir,
      );
      expect(result.exitCode).toBe(0);
      const written: unknown = JSON.parse(await readFile(out, 'utf8'));
      expect(nistOscalProblems(written)).toEqual([]);
      const parsed = oscalAssessmentResultsSchema.parse(written);
      const [period] = parsed['assessment-results'].results;
      // Six runs in the last 90 days (one is 200 days old), each one observation with its record hash.
      expect(period?.observations).toHaveLength(6);
      expect(
        period?.observations?.map(
          (observation) => observation['relevant-evidence']?.[0]?.props?.[2]?.value,
        ),
      ).toEqual(expect.arrayContaining([expect.stringMatching(/^[0-9a-f]{64}$/)]));
      expect(
        period?.findings?.map((finding) => [
          finding.target['target-id'],
          finding.target.status.state,
        ]),
        // nightly's last run passed; weekly's failed (waived, which is still not satisfied).
      ).toEqual([
        ['ISO27001_A.8.13', 'satisfied'],
        ['SOC2_CC9.1', 'not-satisfied'],
      ]);
    });

    it('writes CSV to stdout as two tables: the runs, then the per-drill summary', async () => {
      const result = await restoreDrill(
        ['report', '--config', place.config, '--format', 'csv', '--since', '30d'],
        place.dir,
      );
      expect(result.exitCode).toBe(0);
      const [runs, summary] = result.stdout.split('\r\n\r\n');
      const runLines = (runs as string).split('\r\n');
      expect(runLines[0]).toBe(RUN_COLUMNS.join(','));
      expect(runLines).toHaveLength(1 + 6);
      const summaryLines = (summary as string).trimEnd().split('\r\n');
      expect(summaryLines[0]).toBe(SUMMARY_COLUMNS.join(','));
      expect(summaryLines.slice(1).map((line) => line.split(',')[0])).toEqual([
        'never-run',
        'weekly',
        'nightly',
        'retired',
      ]);
    });

    it('with --out, writes the runs CSV and a .summary.csv beside it', async () => {
      const out = join(place.dir, 'runs.csv');
      const result = await restoreDrill(
        [
          'report',
          '--config',
          place.config,
          '--format',
          'csv',
          '--out',
          out,
          '--since',
          '2000-01-01',
        ],
        place.dir,
      );
      expect(result.exitCode).toBe(0);
      expect((await readFile(out, 'utf8')).trimEnd().split('\r\n')).toHaveLength(
        1 + records.length,
      );
      expect((await readFile(join(place.dir, 'runs.summary.csv'), 'utf8')).split('\r\n')[0]).toBe(
        SUMMARY_COLUMNS.join(','),
      );
    });

    it('refuses an unknown drill, a bad period and an unwritable file with exit codes and one-line reasons', async () => {
      const unknown = await restoreDrill(
        ['report', '--config', place.config, '--drill', 'nope'],
        place.dir,
      );
      expect(unknown.exitCode).toBe(2);
      expect(unknown.stderrTail).toContain(
        "--drill: 'nope' is not a configured drill and has no evidence; configured: nightly, weekly, never-run",
      );
      const since = await restoreDrill(
        ['report', '--config', place.config, '--since', 'last week'],
        place.dir,
      );
      expect(since.exitCode).toBe(2);
      expect(since.stderrTail).toContain(
        "--since: 'last week' is not a duration or a date; expected e.g. 90d, 2026-01-01 or 2026-01-01T00:00:00Z",
      );
      const order = await restoreDrill(
        ['report', '--config', place.config, '--since', '2026-01-02', '--until', '2026-01-01'],
        place.dir,
      );
      expect(order.exitCode).toBe(2);
      const format = await restoreDrill(
        ['report', '--config', place.config, '--format', 'pdf'],
        place.dir,
      );
      expect(format.exitCode).toBe(2);
      const unwritable = await restoreDrill(
        ['report', '--config', place.config, '--out', join(place.dir, 'missing-folder', 'r.html')],
        place.dir,
      );
      expect(unwritable.exitCode).toBe(1);
      expect(unwritable.stderrTail).toContain(
        `cannot write ${join(place.dir, 'missing-folder', 'r.html')}`,
      );
    });
  },
);

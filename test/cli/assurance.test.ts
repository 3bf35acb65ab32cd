import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/evidence/run-record.js';
import { makeRecord } from '../report/make-record.js';
import { prepareCliPlace, restoreDrill, type CliPlace } from './evidence-fixture.js';

const ago = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString();

/** A run of a folder drill whose sample was sized by confidence 95% / tolerance 1%. */
function confidenceRun(verdict: RunRecord['verdict'], achieved: number | null, at: string) {
  const record = makeRecord({ drill: 'nightly', at, verdict });
  return {
    ...record,
    sourceKind: 'directory',
    sample: {
      spec: { size: 'all', stratify: true, confidence: '95%', tolerance: '1%' },
      seed: 'seed',
      totalItems: 48_210,
      selectedItems: 297,
      selectedBytes: 1_000,
      items: [],
      assurance: {
        confidence: 0.95,
        tolerance: 0.01,
        population: 48_210,
        required: 297,
        drawn: 297,
        planned: 0.9502,
        achieved,
      },
    },
  } satisfies RunRecord;
}

describe(
  'the assurance of a confidence-based sample on the command line',
  { timeout: 60_000 },
  () => {
    let place: CliPlace;
    const passed = confidenceRun('passed', 0.9502, ago(2));
    const failed = confidenceRun('failed', 0, ago(1));

    beforeAll(async () => {
      place = await prepareCliPlace('postgres', [passed, failed]);
    }, 60_000);
    afterAll(() => place?.cleanup());

    it('show states it in words, and says when a failure voids it', async () => {
      const shown = await restoreDrill(['show', passed.runId, '--config', place.config], place.dir);
      expect(shown.exitCode, shown.stderrTail).toBe(0);
      expect(shown.stdout).toContain(
        'assurance:  95% confidence that at most 1% of 48,210 files would fail to restore (297 restored and verified)\n',
      );
      const voided = await restoreDrill(
        ['show', failed.runId, '--config', place.config],
        place.dir,
      );
      expect(voided.stdout).toContain(
        'assurance:  no assurance: the run failed, which voids the statement that at most 1% of 48,210 files would fail to restore (95% confidence was asked for)\n',
      );
    });

    it('report --format json carries the last run’s statement', async () => {
      const result = await restoreDrill(
        ['report', '--format', 'json', '--config', place.config, '--since', '30d'],
        place.dir,
      );
      expect(result.exitCode, result.stderrTail).toBe(0);
      const summary = JSON.parse(result.stdout) as {
        drills: { name: string; lastRun: { assurance: string | null } | null }[];
      };
      expect(summary.drills.find((drill) => drill.name === 'nightly')?.lastRun?.assurance).toMatch(
        /^no assurance: the run failed/,
      );
    });
  },
);

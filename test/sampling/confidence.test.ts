import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import type { RunRecord } from '../../src/evidence/run-record.js';
import { describeAssurance } from '../../src/report/assurance.js';
import {
  achievedConfidence,
  confidenceSampleSize,
  defectsBeyond,
  missProbability,
  unboundedSampleSize,
} from '../../src/sampling/confidence.js';
import { drawConfidenceSample, topUp } from '../../src/sampling/sample.js';
import type { SetItem } from '../../src/model/restore.js';

const NINETY_FIVE_ONE = { confidence: 0.95, tolerance: 0.01 };

describe('confidence-based sample size', () => {
  it('needs 299 items at 95% / 1% for an unbounded set, and approaches it for large sets', () => {
    expect(unboundedSampleSize(NINETY_FIVE_ONE)).toBe(299);
    expect(unboundedSampleSize({ confidence: 0.99, tolerance: 0.01 })).toBe(459);
    expect(unboundedSampleSize({ confidence: 0.95, tolerance: 0.05 })).toBe(59);
    expect(confidenceSampleSize(NINETY_FIVE_ONE, 100_000_000)).toBe(299);
    expect(confidenceSampleSize(NINETY_FIVE_ONE, 1_000_000)).toBe(298);
    expect(confidenceSampleSize(NINETY_FIVE_ONE, 48_210)).toBe(297);
    expect(confidenceSampleSize(NINETY_FIVE_ONE, 10_000)).toBe(291);
  });

  it('uses the hypergeometric form for small sets, so n never exceeds the set', () => {
    expect(confidenceSampleSize(NINETY_FIVE_ONE, 0)).toBe(0);
    expect(confidenceSampleSize(NINETY_FIVE_ONE, 1)).toBe(1);
    // One bad item out of 10 hides from any draw of 9 with probability 1/10 > 5%: all 10.
    expect(confidenceSampleSize(NINETY_FIVE_ONE, 10)).toBe(10);
    expect(confidenceSampleSize(NINETY_FIVE_ONE, 100)).toBe(78);
    expect(confidenceSampleSize(NINETY_FIVE_ONE, 1_000)).toBe(238);
    for (const population of [1, 2, 3, 7, 20, 50, 333, 5_000])
      expect(confidenceSampleSize(NINETY_FIVE_ONE, population)).toBeLessThanOrEqual(population);
  });

  it('is the smallest n whose miss probability is at most 1 − C', () => {
    for (const population of [17, 100, 2_500, 10_000]) {
      const n = confidenceSampleSize(NINETY_FIVE_ONE, population);
      const defects = defectsBeyond(0.01, population);
      expect(missProbability(population, defects, n)).toBeLessThanOrEqual(0.05);
      expect(missProbability(population, defects, n - 1)).toBeGreaterThan(0.05);
    }
  });

  it('stays finite and within the set for confidence close to 100%', () => {
    const target = { confidence: 0.999999, tolerance: 0.01 };
    expect(unboundedSampleSize(target)).toBe(1375);
    expect(confidenceSampleSize(target, 1_000_000)).toBe(1374);
    expect(confidenceSampleSize(target, 500)).toBeLessThanOrEqual(500);
    expect(achievedConfidence(0.01, 1_000_000, 1374)).toBeGreaterThanOrEqual(0.999999);
  });

  it('reports the confidence a draw gives: at least C for n, less for fewer, 1 for the whole set', () => {
    const n = confidenceSampleSize(NINETY_FIVE_ONE, 10_000);
    expect(achievedConfidence(0.01, 10_000, n)).toBeGreaterThanOrEqual(0.95);
    expect(achievedConfidence(0.01, 10_000, n - 50)).toBeLessThan(0.95);
    expect(achievedConfidence(0.01, 10_000, 10_000)).toBe(1);
    expect(achievedConfidence(0.01, 10_000, 0)).toBe(0);
  });
});

describe('confidence-based draw', () => {
  const items: SetItem[] = Array.from({ length: 5_000 }, (_, i) => ({
    path: `d${i % 13}/f-${String(i).padStart(5, '0')}`,
    size: i % 10 === 0 ? 2_000_000 + i : 50 + (i % 900),
  }));

  it('draws n reproducibly whatever the listing order', () => {
    const first = drawConfidenceSample(items, NINETY_FIVE_ONE, false, 'seed');
    expect(first.required).toBe(confidenceSampleSize(NINETY_FIVE_ONE, 5_000));
    expect(first.items).toHaveLength(first.required);
    expect(first.effective).toBe(first.required);
    const again = drawConfidenceSample([...items].reverse(), NINETY_FIVE_ONE, false, 'seed');
    expect(again.items.map((item) => item.path)).toEqual(first.items.map((item) => item.path));
    expect(first.bytes).toBe(first.items.reduce((sum, item) => sum + item.size, 0));
  });

  it('splits n over the size strata in proportion, rounding up, so every stratum is drawn at rate n/N', () => {
    const chosen = drawConfidenceSample(items, NINETY_FIVE_ONE, true, 'seed');
    const large = chosen.items.filter((item) => item.size >= 2_000_000).length;
    // 500 large files of 5,000: at least a tenth of n, rounded up.
    expect(large).toBeGreaterThanOrEqual(Math.ceil(chosen.required / 10));
    expect(chosen.items.length).toBeGreaterThanOrEqual(chosen.required);
    expect(chosen.items.length).toBeLessThanOrEqual(chosen.required + 4);
    expect(chosen.effective).toBeGreaterThanOrEqual(chosen.required);
    expect(new Set(chosen.items.map((item) => item.path)).size).toBe(chosen.items.length);
  });

  it('tops a coverage slice up to n from the rest of the set, and leaves a large slice alone', () => {
    const slice = items.slice(0, 40);
    const topped = topUp(slice, items, 120, 'seed');
    expect(topped).toHaveLength(120);
    expect(slice.every((item) => topped.includes(item))).toBe(true);
    expect(new Set(topped.map((item) => item.path)).size).toBe(120);
    expect(topUp(slice, items, 10, 'seed')).toHaveLength(40);
  });
});

describe('sample.confidence config', () => {
  function problems(sample: string): string[] {
    try {
      parseConfig(
        `drills:\n  - name: n\n    source: { kind: tar, path: /b/*.tar }\n    sample: ${sample}\n`,
        'drills.yaml',
        {},
        '/etc/restore-drill',
      );
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).message.split('\n');
    }
    throw new Error('expected a ConfigError');
  }

  it('accepts confidence and tolerance together, alone or with cover', () => {
    const parse = (sample: string) =>
      parseConfig(
        `drills:\n  - name: n\n    source: { kind: tar, path: /b/*.tar }\n    sample: ${sample}\n`,
        'drills.yaml',
        {},
        '/etc/restore-drill',
      ).config.drills[0]?.sample;
    expect(parse(`{ confidence: 95%, tolerance: 1% }`)).toMatchObject({
      confidence: '95%',
      tolerance: '1%',
      size: 'all',
    });
    expect(parse(`{ confidence: 99.9%, tolerance: 0.5%, cover: 30d, slices: 30 }`)).toMatchObject({
      confidence: '99.9%',
      cover: 30 * 86_400_000,
    });
  });

  it('names the key and what is expected for each mistake', () => {
    expect(problems('{ confidence: 95% }').join('\n')).toMatch(
      /sample\.tolerance: confidence and tolerance go together: set tolerance too/,
    );
    expect(problems('{ tolerance: 1% }').join('\n')).toMatch(
      /sample\.confidence: confidence and tolerance go together: set confidence too/,
    );
    expect(problems('{ confidence: 100%, tolerance: 1% }').join('\n')).toMatch(
      /sample\.confidence: expected a percentage above 0% and below 100%/,
    );
    expect(problems('{ confidence: 95%, tolerance: 0% }').join('\n')).toMatch(
      /sample\.tolerance: expected a percentage above 0% and below 100%/,
    );
    expect(problems('{ confidence: 0.95, tolerance: 1% }').join('\n')).toMatch(
      /sample\.confidence: .*expected .*string/i,
    );
    expect(problems(`{ confidence: high, tolerance: 1% }`).join('\n')).toMatch(
      /sample\.confidence: expected a percentage like '95%'/,
    );
    expect(problems('{ confidence: 95%, tolerance: 1%, size: 50 }').join('\n')).toMatch(
      /sample\.confidence: confidence and tolerance decide how many items to restore; they cannot be combined with size or bytes/,
    );
    expect(problems('{ confidence: 95%, tolerance: 1%, bytes: 1GB }').join('\n')).toMatch(
      /sample\.confidence: .*cannot be combined with size or bytes/,
    );
  });
});

describe('the assurance in words', () => {
  function record(achieved: number | null, sourceKind = 'directory') {
    return {
      sourceKind,
      sample: {
        spec: {},
        seed: 's',
        totalItems: 48_210,
        selectedItems: 297,
        selectedBytes: 1,
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
    } satisfies Pick<RunRecord, 'sample' | 'sourceKind'>;
  }

  it('states the confidence of a passing run', () => {
    expect(describeAssurance(record(0.9502))).toBe(
      '95% confidence that at most 1% of 48,210 files would fail to restore (297 restored and verified)',
    );
    expect(describeAssurance(record(0.9502, 'postgres'))).toMatch(/of 48,210 tables would fail/);
    expect(describeAssurance(record(0.9502, 's3'))).toMatch(/of 48,210 objects would fail/);
  });

  it('says when the confidence falls short of the one asked for', () => {
    expect(describeAssurance(record(0.9137))).toBe(
      '91.3% confidence that at most 1% of 48,210 files would fail to restore (297 restored and verified, short of the 95% asked for)',
    );
  });

  it('says plainly that a failure voids it, and that an error gives none', () => {
    expect(describeAssurance(record(0))).toBe(
      'no assurance: the run failed, which voids the statement that at most 1% of 48,210 files would fail to restore (95% confidence was asked for)',
    );
    expect(describeAssurance(record(null))).toMatch(
      /^no assurance: the run could not judge its sample of 297, so nothing is said/,
    );
  });

  it('says nothing for a run without a confidence-based sample', () => {
    expect(describeAssurance({ sourceKind: 'directory', sample: null })).toBeNull();
  });
});

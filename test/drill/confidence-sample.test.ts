import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drillRequest } from '../helpers/drill-request.js';
import { parseConfig } from '../../src/config/load.js';
import { runDrill } from '../../src/drill/run-drill.js';
import { loadEvidenceSummary } from '../../src/report/load-summary.js';
import { renderHtmlReport } from '../../src/report/render-html.js';
import { renderJsonReport } from '../../src/report/render-json.js';
import type { EvidenceSummary } from '../../src/report/drill-summary.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { tempDir } from '../helpers/temp.js';
import { openTestStore, type TestStore } from '../helpers/test-store.js';

const FILES = 10_000;

/** A folder set of `count` small files in 100 subfolders. */
async function writeSmallFiles(setDir: string, count: number): Promise<void> {
  for (let folder = 0; folder < 100; folder++)
    await mkdir(path.join(setDir, `d${String(folder).padStart(2, '0')}`), { recursive: true });
  const writes: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const name = path.join(setDir, `d${String(i % 100).padStart(2, '0')}`, `f${i}.txt`);
    writes.push(writeFile(name, `file ${i}\n`));
    if (writes.length === 200) await Promise.all(writes.splice(0));
  }
  await Promise.all(writes);
}

describe('confidence-based sample over a real folder set', { timeout: 60_000 }, () => {
  let t: TestStore;
  let base: string;

  beforeAll(async () => {
    t = await openTestStore('postgres');
    base = await tempDir('restore-drill-confidence-');
    await writeSmallFiles(path.join(base, 'backups', 'big', '2026-03-01'), FILES);
    await writeSmallFiles(path.join(base, 'backups', 'small', '2026-03-01'), 500);
  }, SLOW_STORE_MS);
  afterAll(() => t?.cleanup(), SLOW_STORE_MS);

  const confidenceOnly = { confidence: '95%', tolerance: '1%' };

  function load(checks: Record<string, unknown>, sample: Record<string, unknown>) {
    const text = stringify({
      scratch: { root: path.join(base, 'scratch') },
      drills: ['big', 'small'].map((name) => ({
        name,
        source: { kind: 'directory', path: path.join(base, 'backups', name, '*') },
        sample,
        checks,
      })),
    });
    return parseConfig(text, path.join(base, 'restore-drill.yaml'), {}, base);
  }

  async function run(
    name: string,
    checks: Record<string, unknown>,
    sample: Record<string, unknown> = confidenceOnly,
  ) {
    const loaded = load(checks, sample);
    const result = await runDrill(drillRequest(loaded, name, t.store.db));
    if (result.status !== 'finished') throw new Error('expected a finished run');
    return { record: result.record, drills: loaded.config.drills };
  }

  async function summary(
    drills: ReturnType<typeof load>['config']['drills'],
  ): Promise<EvidenceSummary> {
    return loadEvidenceSummary(t.store.db, drills, { since: new Date(0) });
  }

  it('restores between 280 and 300 of 10,000 files, records C, p, N, n and the assurance, and the report says so', async () => {
    const { record, drills } = await run('big', { files: { min: 1 } });
    expect(record.verdict).toBe('passed');
    expect(record.restored.files).toBeGreaterThanOrEqual(280);
    expect(record.restored.files).toBeLessThanOrEqual(300);
    expect(record.sample?.totalItems).toBe(FILES);
    expect(record.sample?.selectedItems).toBe(record.restored.files);
    const stated = record.sample?.assurance;
    expect(stated).toMatchObject({
      confidence: 0.95,
      tolerance: 0.01,
      population: FILES,
      required: 291,
      drawn: record.restored.files,
    });
    expect(stated?.achieved).toBe(stated?.planned);
    expect(stated?.achieved).toBeGreaterThanOrEqual(0.95);

    const words = `95% confidence that at most 1% of 10,000 files would fail to restore (${record.restored.files} restored and verified)`;
    const loaded = await summary(drills);
    expect(loaded.drills.find((drill) => drill.name === 'big')?.lastRun?.assurance).toBe(words);
    expect(renderHtmlReport(loaded)).toContain(`<dt>Sample assurance</dt><dd>${words}</dd>`);
    expect(renderJsonReport(loaded)).toContain(JSON.stringify(words));
  });

  it('voids the statement when the run fails, and says so in the report', async () => {
    const { record, drills } = await run('small', { files: { exact: 1 } });
    expect(record.verdict).toBe('failed');
    expect(record.sample?.assurance?.required).toBe(196);
    expect(record.sample?.assurance?.achieved).toBe(0);
    const page = renderHtmlReport(await summary(drills));
    expect(page).toContain(
      '<dt>Sample assurance</dt><dd>no assurance: the run failed, which voids the statement that at most 1% of 500 files would fail to restore (95% confidence was asked for)</dd>',
    );
  });

  it('with cover, restores the whole slice topped up to n from the rest of the set', async () => {
    const { record } = await run(
      'big',
      { files: { min: 1 } },
      { ...confidenceOnly, cover: '100d', slices: 100 },
    );
    expect(record.verdict).toBe('passed');
    // A hundredth of 10,000 is about 100 items, short of n = 291: topped up to exactly n.
    expect(record.restored.files).toBe(291);
    expect(record.sample?.spec).toMatchObject({ slices: 100 });
    expect(record.sample?.assurance).toMatchObject({ required: 291, drawn: 291 });
    expect(record.sample?.assurance?.achieved).toBeGreaterThanOrEqual(0.95);
  });

  it('compares the sample with the live folder: a fifth of the live files changed fails 5% and passes 50%', async () => {
    const live = path.join(base, 'live-small');
    await writeSmallFiles(live, 500);
    for (let i = 0; i < 500; i += 5)
      await writeFile(
        path.join(live, `d${String(i % 100).padStart(2, '0')}`, `f${i}.txt`),
        'edited\n',
      );
    const strict = await run('small', { live: { path: live, tolerance: '5%' } });
    expect(strict.record.verdict).toBe('failed');
    const check = strict.record.checks.find((result) => result.name === 'live');
    const actual = check?.actual as { compared: number; differing: number; share: number };
    expect(actual.compared).toBe(strict.record.restored.files);
    expect(actual.share).toBeGreaterThan(0.1);
    expect(actual.share).toBeLessThan(0.3);
    expect(strict.record.cause).toMatch(
      /^check\.failed: live: \d+(\.\d+)?% of \d+ restored items differ from the live side /,
    );
    const lenient = await run('small', { live: { path: live, tolerance: '50%' } });
    expect(lenient.record.verdict).toBe('passed');
    expect(lenient.record.checks.find((result) => result.name === 'live')?.verdict).toBe('passed');
  });
});

import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drillRequest } from '../helpers/drill-request.js';
import { parseConfig } from '../../src/config/load.js';
import { runDrill } from '../../src/drill/run-drill.js';
import { writeManifestForFolder } from '../../src/manifest/restore-drill-manifest.js';
import { writeTree } from '../helpers/artefacts.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { tempDir } from '../helpers/temp.js';
import { openTestStore, type TestStore } from '../helpers/test-store.js';

const DATA: Record<string, string> = {
  'exports/orders.csv': 'id,total\n1,10\n2,20\n3,30\n',
  'exports/events.jsonl': '{"id":1}\n{"id":2}\n',
  'docs/readme.txt': 'hello\n',
  'docs/notes.txt': 'notes\n',
};

/**
 * A set holding its data, a SHA256SUMS for `checks.manifest` and a records manifest for
 * `checks.records.manifest`: both manifests are metadata of the backup. A healthy set
 * passes whole or sampled; neither manifest counts as an extra or a data file.
 */
describe('a set holding two manifests: SHA256SUMS and the records manifest', () => {
  let t: TestStore;
  let base: string;

  beforeAll(async () => {
    t = await openTestStore('postgres');
    base = await tempDir('restore-drill-manifests-in-set-');
    const set = path.join(base, 'backups', '2026-03-01');
    await writeTree(set, DATA);
    const sums = Object.entries(DATA)
      .map(([name, text]) => `${createHash('sha256').update(text).digest('hex')}  ${name}\n`)
      .join('');
    await writeFile(path.join(set, 'SHA256SUMS'), sums);
    // As `restore-drill manifest` writes it: inside the set, leaving itself and SHA256SUMS out.
    const output = createWriteStream(path.join(set, 'records.json'));
    await writeManifestForFolder(set, output, { exclude: ['SHA256SUMS', 'records.json'] });
    output.end();
    await finished(output);
  }, SLOW_STORE_MS);
  afterAll(() => t?.cleanup(), SLOW_STORE_MS);

  async function run(sample?: unknown) {
    const text = stringify({
      scratch: { root: path.join(base, 'scratch'), keep: 'never' },
      drills: [
        {
          name: 'exports',
          source: { kind: 'directory', path: path.join(base, 'backups', '*') },
          ...(sample ? { sample } : {}),
          checks: {
            manifest: { path: 'SHA256SUMS' },
            records: { files: 'exports/**', from: 'manifest', manifest: 'records.json' },
            files: { min: 1 },
          },
        },
      ],
    });
    const loaded = parseConfig(text, path.join(base, 'restore-drill.yaml'), {}, base);
    const result = await runDrill(drillRequest(loaded, 'exports', t.store.db));
    if (result.status !== 'finished') throw new Error(`expected a finished run: ${result.status}`);
    return result.record;
  }

  it('passes whole: the records manifest is neither extra nor counted as a data file', async () => {
    const record = await run();
    expect(record.cause, JSON.stringify(record.checks)).toBeNull();
    expect(record.verdict).toBe('passed');
    const byName = new Map(record.checks.map((check) => [check.name, check]));
    expect(byName.get('extraFiles')).toMatchObject({ verdict: 'passed', actual: { extra: 0 } });
    expect(byName.get('files')).toMatchObject({ verdict: 'passed', actual: { files: 4 } });
    expect(byName.get('records')?.verdict).toBe('passed');
  });

  it('passes sampled: the records manifest is restored with every sample and never drawn', async () => {
    const record = await run({ size: 1 });
    expect(record.cause, JSON.stringify(record.checks)).toBeNull();
    expect(record.verdict).toBe('passed');
    expect(record.sample?.items).toHaveLength(1);
    expect(record.sample?.items).not.toContain('records.json');
    expect(record.sample?.totalItems).toBe(4);
    expect(record.checks.find((check) => check.name === 'records')?.verdict).toBe('passed');
  });
});

import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyBundle } from '../../src/evidence/chain.js';
import { exportEvidence, type ExportOptions } from '../../src/evidence/export.js';
import type { EvidenceStore } from '../../src/evidence/open-store.js';
import { purgeEvidence } from '../../src/evidence/purge.js';
import { GENESIS_HASH, recordRunResult, recordRunStart } from '../../src/evidence/runs.js';
import { runCommand } from '../../src/exec/run-command.js';
import { engines, type StorePlace } from '../helpers/evidence-engines.js';
import { makeItems, makeRecord, startOf, withItems } from '../helpers/run-records.js';

describe.each(engines)(
  'evidence export and offline bundle verification on %s',
  (_dialect, engine) => {
    let place: StorePlace;
    let store: EvidenceStore;
    let dir: string;
    const runs: { seq: number; runId: string; recordHash: string }[] = [];

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'restore-drill-bundle-'));
      place = await engine.prepare();
      store = await place.open();
      for (let i = 0; i < 6; i++) {
        const items = makeItems(i === 1 ? 2500 : 3);
        const record = withItems(
          makeRecord({
            startedAt: new Date(Date.UTC(2025, 0, 1 + i * 30, 3)).toISOString(),
            drill: i % 2 === 0 ? 'nightly' : 'weekly',
          }),
          items,
        );
        await recordRunStart(store.db, startOf(record));
        const { seq, recordHash } = await recordRunResult(store.db, record, items);
        runs.push({ seq, runId: record.runId, recordHash });
      }
    });

    afterAll(async () => {
      await store?.close();
      await place?.cleanup();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    const run = (index: number) =>
      runs[index] as { seq: number; runId: string; recordHash: string };
    let counter = 0;

    async function exportTo(
      options: ExportOptions = {},
    ): Promise<{ file: string; lines: string[] }> {
      const file = join(dir, `bundle-${++counter}.jsonl`);
      const out = createWriteStream(file);
      await exportEvidence(store.db, out, { batchSize: 2, ...options });
      out.end();
      await finished(out);
      const text = await readFile(file, 'utf8');
      return { file, lines: text.split('\n').filter((line) => line !== '') };
    }

    async function rewrite(lines: string[]): Promise<string> {
      const file = join(dir, `edited-${++counter}.jsonl`);
      await writeFile(file, `${lines.join('\n')}\n`);
      return file;
    }

    it('exports a header and one line per record with its exact text, and the bundle verifies offline', async () => {
      const { file, lines } = await exportTo({ now: new Date('2026-03-01T00:00:00Z') });
      const header = JSON.parse(lines[0] as string);
      expect(header).toEqual({
        type: 'header',
        format: 'restore-drill-evidence-bundle',
        version: 1,
        exportedAt: '2026-03-01T00:00:00.000Z',
        generator: expect.stringMatching(/^restore-drill /),
        range: { since: null },
        records: 6,
        firstSeq: run(0).seq,
        lastSeq: run(5).seq,
        anchor: { kind: 'genesis', seq: null, prevHash: GENESIS_HASH },
        head: { seq: run(5).seq, recordHash: run(5).recordHash },
        items: false,
        purges: [],
      });
      expect(lines).toHaveLength(7);
      const stored = await store.db
        .selectFrom('run_results')
        .select(['seq', 'record'])
        .orderBy('seq')
        .execute();
      expect(lines.slice(1).map((line) => JSON.parse(line).record)).toEqual(
        stored.map((row) => row.record),
      );

      const report = await verifyBundle(file);
      expect(report).toMatchObject({
        intact: true,
        source: 'bundle',
        records: 6,
        firstSeq: run(0).seq,
        lastSeq: run(5).seq,
        head: { seq: run(5).seq, recordHash: run(5).recordHash },
        break: null,
      });
    });

    it('exports from the first run since a date, anchored on the record before it, and verifies from that anchor', async () => {
      const { file, lines } = await exportTo({ since: new Date(Date.UTC(2025, 0, 1 + 90)) });
      const header = JSON.parse(lines[0] as string);
      expect(header).toMatchObject({
        records: 3,
        firstSeq: run(3).seq,
        anchor: { kind: 'record', seq: run(2).seq, prevHash: run(2).recordHash },
      });
      expect(await verifyBundle(file)).toMatchObject({
        intact: true,
        records: 3,
        anchor: { kind: 'bundle', hash: run(2).recordHash, seq: run(2).seq },
      });
    });

    it('exports an empty bundle when nothing is in range, and it verifies', async () => {
      const { file, lines } = await exportTo({ since: new Date('2030-01-01T00:00:00Z') });
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0] as string)).toMatchObject({
        records: 0,
        firstSeq: null,
        lastSeq: null,
        head: null,
      });
      expect(await verifyBundle(file)).toMatchObject({ intact: true, records: 0 });
    });

    it('with items, writes each run’s items after its record (streamed past the batch size), and still verifies', async () => {
      const { file, lines } = await exportTo({ items: true, batchSize: 1000 });
      const kinds = lines.map((line) => JSON.parse(line).type as string);
      expect(kinds.filter((kind) => kind === 'item')).toHaveLength(2500 + 5 * 3);
      const second = lines.findIndex((line) => JSON.parse(line).runId === run(1).runId);
      expect(JSON.parse(lines[second + 1] as string)).toEqual({
        type: 'item',
        seq: run(1).seq,
        path: 'dir-0/file-000000.dat',
        size: 1,
        sha256: null,
      });
      expect(JSON.parse(lines[second + 2] as string)).toEqual({
        type: 'item',
        seq: run(1).seq,
        path: 'dir-0/file-000007.dat',
        size: 7001,
        sha256: (7).toString(16).padStart(64, '0'),
      });
      expect(await verifyBundle(file)).toMatchObject({ intact: true, records: 6 });
    });

    /** The bundle's item lines of run `index`, by their index in `lines`. */
    const itemLinesOf = (lines: string[], index: number): number[] =>
      lines.flatMap((line, at) => {
        const parsed = JSON.parse(line) as { type: string; seq?: number };
        return parsed.type === 'item' && parsed.seq === run(index).seq ? [at] : [];
      });

    it('names the run, and the item lines holding the one whose SHA-256 was edited', async () => {
      const { lines } = await exportTo({ items: true });
      const at = itemLinesOf(lines, 2)[1] as number;
      const item = JSON.parse(lines[at] as string);
      lines[at] = JSON.stringify({ ...item, sha256: 'f'.repeat(64) });
      const report = await verifyBundle(await rewrite(lines));
      expect(report.intact).toBe(false);
      expect(report.break).toBeNull();
      expect(report.items).toMatchObject({ runs: 6, items: 2515, differing: 1 });
      const problem = report.items?.problems[0];
      expect(problem).toMatchObject({
        seq: run(2).seq,
        runId: run(2).runId,
        items: 3,
        missing: [],
        added: [],
      });
      const recordLine = itemLinesOf(lines, 2)[0] as number; // 1-based: the line before the first item
      expect(problem?.message).toBe(
        `line ${recordLine}: seq ${run(2).seq} (run ${run(2).runId}): items do not match the record's itemsDigest: an item's size or SHA-256 was changed in item lines ${recordLine + 1}-${recordLine + 3} (3 item lines for 3 files, the paths the record lists)`,
      );
      // The edited line is among those named.
      expect(at + 1).toBeGreaterThanOrEqual(recordLine + 1);
      expect(at + 1).toBeLessThanOrEqual(recordLine + 3);
    });

    it('names the item whose line was deleted, and the item of a line added', async () => {
      const exported = await exportTo({ items: true });
      const lines = [...exported.lines];
      const deleted = itemLinesOf(lines, 3)[2] as number;
      const gone = JSON.parse(lines[deleted] as string) as { path: string };
      lines.splice(deleted, 1);
      const report = await verifyBundle(await rewrite(lines));
      expect(report.intact).toBe(false);
      expect(report.items?.problems).toHaveLength(1);
      expect(report.items?.problems[0]).toMatchObject({
        runId: run(3).runId,
        missing: [gone.path],
        items: 2,
      });
      expect(report.items?.problems[0]?.message).toMatch(
        new RegExp(
          `seq ${run(3).seq} \\(run ${run(3).runId}\\): items do not match the record's itemsDigest: item '${gone.path}' missing \\(2 item lines for 3 files\\)$`,
        ),
      );

      const added = [...exported.lines];
      const after = itemLinesOf(added, 4)[2] as number;
      added.splice(
        after + 1,
        0,
        JSON.stringify({
          type: 'item',
          seq: run(4).seq,
          path: 'zz/planted.dat',
          size: 5,
          sha256: null,
        }),
      );
      const planted = await verifyBundle(await rewrite(added));
      expect(planted.items?.problems.map((problem) => [problem.runId, problem.added])).toEqual([
        [run(4).runId, ['zz/planted.dat']],
      ]);
      expect(planted.items?.problems[0]?.message).toContain(
        "items do not match the record's itemsDigest: item 'zz/planted.dat' added (4 item lines for 3 files)",
      );
    });

    it('verifies item lines given in another order (the digest sorts them)', async () => {
      const { lines } = await exportTo({ items: true });
      const of1 = itemLinesOf(lines, 1);
      const first = of1[0] as number;
      const block = lines.slice(first, first + of1.length).reverse();
      lines.splice(first, of1.length, ...block);
      const report = await verifyBundle(await rewrite(lines));
      expect(report).toMatchObject({ intact: true, break: null, items: { runs: 6, differing: 0 } });
    });

    it('names an item line that does not belong to the record above it', async () => {
      const { lines } = await exportTo({ items: true });
      const at = lines.findIndex((line) => JSON.parse(line).type === 'item');
      const item = JSON.parse(lines[at] as string);
      lines[at] = JSON.stringify({ ...item, seq: item.seq + 1 });
      const report = await verifyBundle(await rewrite(lines));
      expect(report.break).toMatchObject({
        problem: 'bundle-malformed',
        seq: item.seq,
        line: at + 1,
      });
      expect(report.break?.message).toBe(
        `line ${at + 1}: expected an item of the record above (seq ${item.seq})`,
      );
    });

    it('names the record when one character of its text is edited', async () => {
      const { lines } = await exportTo();
      const line = JSON.parse(lines[3] as string);
      line.record = line.record.replace('"drill-host-1"', '"drill-host-7"');
      lines[3] = JSON.stringify(line);
      const report = await verifyBundle(await rewrite(lines));
      expect(report.intact).toBe(false);
      expect(report.break).toMatchObject({
        problem: 'record-altered',
        seq: run(2).seq,
        runId: run(2).runId,
        field: 'record',
        line: 4,
      });
      expect(report.break?.message).toBe(
        `line 4: seq ${run(2).seq} (run ${run(2).runId}): the record text was altered: it no longer hashes to its record_hash`,
      );
    });

    it('names the record when one character of the raw line is edited inside the record text', async () => {
      const { lines } = await exportTo();
      const raw = lines[5] as string;
      const at = raw.indexOf('nightly');
      lines[5] = `${raw.slice(0, at)}N${raw.slice(at + 1)}`;
      expect((await verifyBundle(await rewrite(lines))).break).toMatchObject({
        problem: 'record-altered',
        seq: run(4).seq,
        line: 6,
      });
    });

    it('names the gap when a record line is deleted', async () => {
      const { lines } = await exportTo();
      lines.splice(3, 1);
      const report = await verifyBundle(await rewrite(lines));
      expect(report.break).toMatchObject({
        problem: 'gap',
        seq: run(3).seq,
        runId: run(3).runId,
        field: 'seq',
        line: 4,
      });
      expect(report.break?.message).toBe(
        `line 4: gap before seq ${run(3).seq} (run ${run(3).runId}): seq ${run(2).seq} is missing; its prev_hash does not match the record_hash of seq ${run(1).seq}`,
      );
    });

    it('names missing records at the start and at the end', async () => {
      const { lines } = await exportTo();
      const withoutFirst = [lines[0] as string, ...lines.slice(2)];
      expect((await verifyBundle(await rewrite(withoutFirst))).break).toMatchObject({
        problem: 'gap',
        seq: run(1).seq,
        line: 2,
      });
      const withoutLast = lines.slice(0, -1);
      const report = await verifyBundle(await rewrite(withoutLast));
      expect(report.break).toMatchObject({ problem: 'truncated', seq: run(4).seq });
      expect(report.break?.message).toBe(
        `the bundle ends at seq ${run(4).seq} but its header says the last record is seq ${run(5).seq}: records at the end are missing`,
      );
    });

    it('names a changed prev_hash as a broken link, and a changed anchor in the header', async () => {
      const { lines } = await exportTo();
      const line = JSON.parse(lines[2] as string);
      line.prevHash = 'a'.repeat(64);
      const edited = [...lines];
      edited[2] = JSON.stringify(line);
      expect((await verifyBundle(await rewrite(edited))).break).toMatchObject({
        problem: 'link-broken',
        seq: run(1).seq,
        field: 'prev_hash',
        line: 3,
      });

      const header = JSON.parse(lines[0] as string);
      header.anchor.prevHash = 'b'.repeat(64);
      expect(
        (await verifyBundle(await rewrite([JSON.stringify(header), ...lines.slice(1)]))).break,
      ).toMatchObject({ problem: 'anchor-mismatch', seq: run(0).seq, line: 2 });
    });

    it('names a line that is not JSON, a missing or foreign header, and an empty file', async () => {
      const { lines } = await exportTo();
      const broken = [...lines];
      broken[4] = (broken[4] as string).slice(0, 40);
      const report = await verifyBundle(await rewrite(broken));
      expect(report.break).toMatchObject({ problem: 'bundle-malformed', line: 5 });
      expect(report.break?.message).toMatch(
        new RegExp(`^line 5: not valid JSON \\(after seq ${run(2).seq}\\): `),
      );

      const foreign = await verifyBundle(
        await rewrite(['{"type":"header","format":"something-else","version":1}']),
      );
      expect(foreign.break?.message).toMatch(
        /^line 1: expected a restore-drill evidence bundle header: format: /,
      );
      expect((await verifyBundle(await rewrite(lines.slice(1)))).break).toMatchObject({
        problem: 'bundle-malformed',
        line: 1,
      });

      const empty = join(dir, 'empty.jsonl');
      await writeFile(empty, '');
      expect((await verifyBundle(empty)).break?.message).toBe(
        'the bundle is empty: expected a header line',
      );
    });

    it('the jq + sha256sum recipe in docs/evidence.md verifies a bundle and catches an edited record', async () => {
      const docs = await readFile(
        fileURLToPath(new URL('../../docs/evidence.md', import.meta.url)),
        'utf8',
      );
      const recipe = /with `jq` and `sha256sum`:\n\n```sh\n([\s\S]*?)```/.exec(docs)?.[1];
      expect(recipe).toBeDefined();
      const script = join(dir, 'verify.sh');
      await writeFile(script, recipe as string);
      const { lines } = await exportTo({ since: new Date(Date.UTC(2025, 0, 1 + 60)) });
      const good = await rewrite(lines);
      const runRecipe = async (bundle: string) => {
        await writeFile(join(dir, 'bundle.jsonl'), await readFile(bundle));
        return runCommand('bash', [script], { cwd: dir });
      };
      expect(await runRecipe(good)).toMatchObject({ exitCode: 0, stdout: 'OK' });
      const line = JSON.parse(lines[2] as string);
      line.record = line.record.replace('"drill-host-1"', '"drill-host-9"');
      const edited = [...lines];
      edited[2] = JSON.stringify(line);
      expect(await runRecipe(await rewrite(edited))).toMatchObject({
        exitCode: 1,
        stdout: `seq ${line.seq}: record altered`,
      });
      expect(await runRecipe(await rewrite(lines.slice(0, -1)))).toMatchObject({
        exitCode: 1,
        stdout: 'records missing at the end',
      });
    });

    it('after a purge, exports from the purge anchor and verifies', async () => {
      await purgeEvidence(store.db, { before: new Date(Date.UTC(2025, 0, 1 + 60)) });
      const { file, lines } = await exportTo();
      const header = JSON.parse(lines[0] as string);
      expect(header).toMatchObject({
        records: 4,
        firstSeq: run(2).seq,
        anchor: { kind: 'purge', seq: run(1).seq, prevHash: run(1).recordHash },
      });
      expect(header.purges).toHaveLength(1);
      expect(await verifyBundle(file)).toMatchObject({
        intact: true,
        records: 4,
        purges: [{ lastSeq: run(1).seq }],
      });
    });
  },
);

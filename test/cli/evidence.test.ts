import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChainReport } from '../../src/evidence/chain.js';
import { makeRecord } from '../report/make-record.js';
import { prepareCliPlace, restoreDrill, type CliPlace } from './evidence-fixture.js';

const DAY = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString();

// Every CLI call is a real process that opens the evidence database (PGlite: seconds each). The
// chain, bundle, purge and append-only logic runs on both engines in test/evidence/; here the
// embedded store (the default users meet) runs the verify-and-export round trip, PostgreSQL every case.
describe.each(['pglite', 'postgres'] as const)(
  'restore-drill evidence on %s',
  { timeout: 60_000 },
  (engine) => {
    let place: CliPlace | undefined;
    afterEach(async () => {
      await place?.cleanup();
      place = undefined;
    });

    const history = () => [
      makeRecord({ drill: 'nightly', at: ago(500) }),
      makeRecord({ drill: 'nightly', at: ago(450) }),
      makeRecord({ drill: 'nightly', at: ago(30) }),
      makeRecord({ drill: 'weekly', at: ago(3), verdict: 'failed' }),
    ];

    it('verifies the chain, exports it, verifies the bundle offline, and names an edited record in it', async () => {
      const records = history();
      place = await prepareCliPlace(engine, records);
      const verified = await restoreDrill(
        ['evidence', 'verify', '--config', place.config],
        place.dir,
      );
      expect(verified.exitCode).toBe(0);
      expect(verified.stdout).toMatch(
        /^evidence chain intact: 4 records, seq \d+ to \d+, verified from the genesis hash\nitems: 4 items of 4 runs recomputed against each record's itemsDigest, all match\nhead: seq \d+ record_hash [0-9a-f]{64}$/,
      );

      const json = await restoreDrill(
        ['evidence', 'verify', '--config', place.config, '--json'],
        place.dir,
      );
      expect(JSON.parse(json.stdout)).toMatchObject({ intact: true, records: 4, break: null });

      const exported = await restoreDrill(
        ['evidence', 'export', '--config', place.config, '--since', '365d'],
        place.dir,
      );
      expect(exported.exitCode).toBe(0);
      const lines = exported.stdout.trimEnd().split('\n');
      expect(lines).toHaveLength(1 + 2);
      expect(JSON.parse(lines[0] as string)).toMatchObject({
        type: 'header',
        records: 2,
        anchor: { kind: 'record' },
      });
      const bundle = join(place.dir, 'bundle.jsonl');
      await writeFile(bundle, exported.stdout);

      // Offline: no config, no database, from another folder.
      const offline = await restoreDrill(['evidence', 'verify', bundle], '/');
      expect(offline.exitCode).toBe(0);
      expect(offline.stdout.split('\n')[0]).toMatch(
        /^bundle .*bundle\.jsonl intact: 2 records, seq \d+ to \d+, verified from the bundle's anchor \(record_hash of seq \d+\): [0-9a-f]{64}$/,
      );

      const edited = lines.map((line, index) =>
        index === 2 ? line.replace('test-host', 'test-hosT') : line,
      );
      await writeFile(bundle, `${edited.join('\n')}\n`);
      const broken = await restoreDrill(['evidence', 'verify', bundle, '--json'], '/');
      expect(broken.exitCode).toBe(1);
      const report = JSON.parse(broken.stdout) as ChainReport;
      expect(report.break).toMatchObject({
        problem: 'record-altered',
        runId: records[3]?.runId,
        line: 3,
      });

      const missing = await restoreDrill(
        ['evidence', 'verify', join(place.dir, 'nope.jsonl')],
        '/',
      );
      expect(missing.exitCode).toBe(2);
      expect(missing.stderrTail).toContain(
        `cannot read bundle ${join(place.dir, 'nope.jsonl')}: file not found`,
      );
    });

    // Beyond opening the store, the same code on both engines: PostgreSQL only.
    if (engine === 'pglite') return;

    it('with --items, names the run whose item line was edited in a bundle, the chain itself intact', async () => {
      const records = history();
      place = await prepareCliPlace(engine, records);
      const bundle = join(place.dir, 'items.jsonl');
      const withItems = await restoreDrill(
        ['evidence', 'export', '--config', place.config, '--items'],
        place.dir,
      );
      expect(withItems.exitCode).toBe(0);
      const itemLines = withItems.stdout.trimEnd().split('\n');
      const itemAt = itemLines.findIndex((line) => line.includes('"type":"item"'));
      const item = JSON.parse(itemLines[itemAt] as string) as { seq: number };
      itemLines[itemAt] = JSON.stringify({ ...item, sha256: 'b'.repeat(64) });
      await writeFile(bundle, `${itemLines.join('\n')}\n`);
      const editedItem = await restoreDrill(['evidence', 'verify', bundle], '/');
      expect(editedItem.exitCode).toBe(1);
      expect(editedItem.stdout).toContain(
        `BROKEN: the items of 1 run do not match their records' itemsDigest\n`,
      );
      expect(editedItem.stdout).toContain(
        `: seq ${item.seq} (run ${records[0]?.runId}): items do not match the record's itemsDigest: an item's size or SHA-256 was changed`,
      );
    });

    it('exits 1 and names the record when a row was changed behind the append-only guard', async () => {
      const records = history();
      place = await prepareCliPlace(engine, records);
      const store = await place.open();
      try {
        await expect(
          sql`update run_results set verdict = 'passed' where run_id = ${records[3]?.runId}`.execute(
            store.db,
          ),
        ).rejects.toThrow(/append-only/);
        await sql`alter table run_results disable trigger run_results_append_only`.execute(
          store.db,
        );
        await sql`update run_results set record = replace(record, '"failed"', '"passed"') where run_id = ${records[3]?.runId}`.execute(
          store.db,
        );
        await sql`alter table run_results enable trigger run_results_append_only`.execute(store.db);
      } finally {
        await store.close();
      }
      const result = await restoreDrill(
        ['evidence', 'verify', '--config', place.config],
        place.dir,
      );
      expect(result.exitCode).toBe(1);
      expect(result.stdout).toMatch(
        new RegExp(
          `^evidence chain BROKEN: seq \\d+ \\(run ${records[3]?.runId}\\): the record text was altered: it no longer hashes to its record_hash\\n  problem: record-altered, field record\\n  verified intact before it: 3 records`,
        ),
      );
    });

    it('refuses a purge under the default 7y retention floor, dry or with --yes, naming the floor and removing nothing', async () => {
      place = await prepareCliPlace(engine, history());
      for (const yes of [[], ['--yes']]) {
        const refused = await restoreDrill(
          ['evidence', 'purge', '--config', place.config, '--before', '400d', ...yes],
          place.dir,
        );
        expect(refused.exitCode).toBe(2);
        expect(refused.stdout).toBe('');
        expect(refused.stderrTail).toMatch(
          /refusing to purge: it would remove the evidence of runs started as late as \S+, younger than the retention floor evidence\.retention\.minimum \(7y: nothing started after \S+ may go\); nothing was removed/,
        );
      }
      const verified = await restoreDrill(
        ['evidence', 'verify', '--config', place.config, '--json'],
        place.dir,
      );
      expect(JSON.parse(verified.stdout)).toMatchObject({ intact: true, records: 4, purges: [] });
    });

    it('purges only with --yes, records the cut, and verify stays green', async () => {
      place = await prepareCliPlace(engine, history());
      // The runs are 500 and 450 days old: a floor of 1y lets them go.
      await appendFile(place.config, 'evidence:\n  retention:\n    minimum: 1y\n');
      const dry = await restoreDrill(
        ['evidence', 'purge', '--config', place.config, '--before', '400d'],
        place.dir,
      );
      expect(dry.exitCode).toBe(2);
      expect(dry.stdout).toMatch(
        /^would remove 2 records \(seq \d+ to \d+\) of runs started before .*; add --yes to purge$/,
      );

      const purged = await restoreDrill(
        ['evidence', 'purge', '--config', place.config, '--before', '400d', '--yes'],
        place.dir,
      );
      expect(purged.exitCode).toBe(0);
      expect(purged.stdout).toMatch(
        /^purged 2 records \(seq \d+ to \d+\), 2 items; chain cut by purge \d+ on /,
      );

      const verified = await restoreDrill(
        ['evidence', 'verify', '--config', place.config],
        place.dir,
      );
      expect(verified.exitCode).toBe(0);
      expect(verified.stdout).toMatch(
        /^evidence chain intact: 2 records, seq \d+ to \d+, verified from the anchor of the last purge/,
      );
      expect(verified.stdout).toMatch(
        /\nchain cut by purge \d+ on .*: seq \d+ to \d+ removed \(2 records, 2 items, runs started before .*\)/,
      );

      const again = await restoreDrill(
        ['evidence', 'purge', '--config', place.config, '--before', '400d', '--yes'],
        place.dir,
      );
      expect(again.exitCode).toBe(0);
      expect(again.stdout).toMatch(/^nothing to purge/);

      const future = await restoreDrill(
        ['evidence', 'purge', '--config', place.config, '--before', '2999-01-01', '--yes'],
        place.dir,
      );
      expect(future.exitCode).toBe(2);
      expect(future.stderrTail).toContain('--before: 2999-01-01T00:00:00.000Z is in the future');

      const exported = join(place.dir, 'all.jsonl');
      expect(
        (
          await restoreDrill(
            ['evidence', 'export', '--config', place.config, '--out', exported],
            place.dir,
          )
        ).exitCode,
      ).toBe(0);
      expect(JSON.parse((await readFile(exported, 'utf8')).split('\n')[0] as string)).toMatchObject(
        { anchor: { kind: 'purge' }, purges: [{ records: 2 }] },
      );
      expect((await restoreDrill(['evidence', 'verify', exported], place.dir)).exitCode).toBe(0);
    });
  },
);

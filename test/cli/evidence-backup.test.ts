import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { backupManifestSchema } from '../../src/evidence/backup.js';
import { runCommand } from '../../src/exec/run-command.js';
import { makeRecord } from '../report/make-record.js';
import { prepareCliPlace, restoreDrill, type CliPlace } from './evidence-fixture.js';

const DAY = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString();
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe.each(['pglite', 'postgres'] as const)(
  'restore-drill evidence backup on %s',
  { timeout: 60_000 },
  (engine) => {
    let place: CliPlace | undefined;
    afterEach(async () => {
      await place?.cleanup();
      place = undefined;
    });

    it('writes a new UTC-named folder with the bundle and a manifest that agree with the live chain', async () => {
      place = await prepareCliPlace(engine, [
        makeRecord({ drill: 'nightly', at: ago(3) }),
        makeRecord({ drill: 'weekly', at: ago(2), verdict: 'failed' }),
      ]);
      const out = join(place.dir, 'backups', 'evidence');
      const backup = await restoreDrill(
        ['evidence', 'backup', '--config', place.config, '--out', out, '--json'],
        place.dir,
      );
      expect(backup.stderrTail).toBe('');
      expect(backup.exitCode).toBe(0);
      const printed = JSON.parse(backup.stdout) as { path: string; manifest: unknown };
      const [folder, ...others] = await readdir(out);
      expect(others).toEqual([]);
      expect(folder).toMatch(/^\d{4}-\d\d-\d\dT\d{6}Z$/);
      expect(printed.path).toBe(join(out, folder as string));
      const manifest = backupManifestSchema.parse(
        JSON.parse(await readFile(join(out, folder as string, 'manifest.json'), 'utf8')),
      );
      expect(manifest).toEqual(printed.manifest);
      expect(manifest).toMatchObject({
        store: engine,
        chain: { records: 2, runs: 2, reviews: 0, items: 2 },
      });
      expect((await readdir(join(out, folder as string))).sort()).toEqual([
        'evidence.jsonl',
        'manifest.json',
      ]);
      const bundle = await readFile(join(out, folder as string, 'evidence.jsonl'));
      expect(manifest.files).toEqual([
        { name: 'evidence.jsonl', bytes: bundle.length, sha256: sha256(bundle) },
      ]);

      // The head in the manifest is the live chain's head, and the bundle verifies offline.
      const verified = await restoreDrill(
        ['evidence', 'verify', '--config', place.config, '--json'],
        place.dir,
      );
      expect((JSON.parse(verified.stdout) as { head: unknown }).head).toEqual(manifest.chain.head);
      const offline = await restoreDrill(
        ['evidence', 'verify', join(out, folder as string, 'evidence.jsonl')],
        '/',
      );
      expect(offline.exitCode).toBe(0);
    });

    // The out folder's failure is the same on both engines: PostgreSQL only.
    if (engine === 'postgres') {
      it('says in one line, naming the path, when the out folder cannot be made', async () => {
        place = await prepareCliPlace(engine, [makeRecord({ drill: 'nightly', at: ago(1) })]);
        const blocker = join(place.dir, 'a-file');
        await writeFile(blocker, 'not a folder\n');
        const backup = await restoreDrill(
          ['evidence', 'backup', '--config', place.config, '--out', join(blocker, 'sub')],
          place.dir,
        );
        expect(backup.exitCode).toBe(1);
        expect(backup.stdout).toBe('');
        expect(backup.stderrTail.trim().split('\n')).toHaveLength(1);
        expect(backup.stderrTail).toContain(`cannot create backup folder ${join(blocker, 'sub')}`);
      });

      it('adds a pg_dump of the evidence database that pg_restore reads', async () => {
        place = await prepareCliPlace(engine, [makeRecord({ drill: 'nightly', at: ago(1) })]);
        const out = join(place.dir, 'backups');
        const backup = await restoreDrill(
          ['evidence', 'backup', '--config', place.config, '--out', out, '--pg-dump'],
          place.dir,
        );
        expect(backup.stderrTail).toBe('');
        expect(backup.exitCode).toBe(0);
        expect(backup.stdout).toMatch(
          /^evidence backed up to .*: 1 record \(1 run, 0 reviews, 1 item\), head seq \d+ record_hash [0-9a-f]{64}; files: evidence.jsonl, evidence.pgdump, manifest.json$/,
        );
        const [folder] = await readdir(out);
        const dump = join(out, folder as string, 'evidence.pgdump');
        const manifest = backupManifestSchema.parse(
          JSON.parse(await readFile(join(out, folder as string, 'manifest.json'), 'utf8')),
        );
        expect(manifest.files.map((file) => file.name)).toEqual([
          'evidence.jsonl',
          'evidence.pgdump',
        ]);
        expect(manifest.files[1]?.sha256).toBe(sha256(await readFile(dump)));
        const listed = await runCommand('pg_restore', ['--list', dump], { keepStdout: true });
        expect(listed.exitCode).toBe(0);
        expect(listed.stdout).toMatch(/TABLE DATA public run_results/);
        expect(listed.stdout).toMatch(/TABLE DATA public run_reviews/);
      });
    } else {
      it('refuses --pg-dump on the embedded store (exit 2), writing nothing', async () => {
        place = await prepareCliPlace(engine, [makeRecord({ drill: 'nightly', at: ago(1) })]);
        const out = join(place.dir, 'backups');
        const backup = await restoreDrill(
          ['evidence', 'backup', '--config', place.config, '--out', out, '--pg-dump'],
          place.dir,
        );
        expect(backup.exitCode).toBe(2);
        expect(backup.stderrTail).toMatch(/--pg-dump: the evidence store is embedded/);
        await expect(readdir(out)).rejects.toThrow(/ENOENT/);
      });
    }
  },
);

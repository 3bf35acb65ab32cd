import { createHash, randomBytes } from 'node:crypto';
import {
  appendFile,
  chmod,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  truncate,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { ExtraFilesCheck } from '../../src/checks/extra-files-check.js';
import { startScratchServer, type ScratchServer } from '../helpers/pg-basebackup.js';
import { CheckBrokenError, type CheckContext } from '../../src/checks/check.js';
import { asUnprivileged } from '../helpers/as-user.js';
import { MAX_FINDINGS } from '../../src/model/check-result.js';
import {
  ManifestCheck,
  ManifestLoader,
  locateManifest,
  manifestCheckConfigSchema,
  isChosen,
  manifestPathInSet,
} from '../../src/checks/manifest-check.js';
import { crc32c, crc32cHex } from '../../src/manifest/crc32c.js';
import { parseLsn, segmentName } from '../../src/manifest/lsn.js';
import { writeManifestForFolder } from '../../src/manifest/restore-drill-manifest.js';
import {
  copyInto,
  contextFor,
  flipByte,
  makeBench,
  scanScratch,
  sha256sumOutput,
  writeFiles,
  type Bench,
} from './fixture.js';
import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { setTimeout } from 'node:timers/promises';

const FILES = {
  'a.txt': 'alpha\n',
  'docs/with space.txt': 'spaced\n',
  'docs/new\nline.txt': 'newline in the name\n',
  'data/big.bin': randomBytes(1_500_000),
  'empty.dat': '',
};
const NAMES = Object.keys(FILES);

let bench: Bench;
beforeEach(async () => {
  bench = await makeBench(FILES);
});
afterEach(async () => {
  await bench.cleanup();
});

function check(config: { format?: string; path: string; wal?: string }) {
  const parsed = manifestCheckConfigSchema.parse(config);
  return new ManifestCheck(parsed, new ManifestLoader(parsed));
}

/** A set with a SHA256SUMS made by the real sha256sum, restored into scratch. */
async function restoredWithSha256sums(args: string[] = []): Promise<void> {
  await writeFile(
    join(bench.setDir, 'SHA256SUMS'),
    await sha256sumOutput(bench.setDir, NAMES, args),
  );
  await copyInto(bench.setDir, bench.scratch);
}

async function runCheck(
  config: { format?: string; path: string; wal?: string },
  context?: CheckContext,
) {
  const results = await check(config).run(context ?? (await contextFor(bench)));
  expect(results).toHaveLength(1);
  return results[0]!;
}

describe('manifest check with sha256sum manifests', () => {
  test('passes when every listed file is restored intact, and does not compare the manifest itself', async () => {
    await restoredWithSha256sums();
    const result = await runCheck({ path: 'SHA256SUMS' });
    expect(result).toEqual({
      name: 'manifest',
      verdict: 'passed',
      expected: { manifest: 'SHA256SUMS', format: 'sha256sum', files: 5 },
      actual: { verified: 5, missing: 0, changed: 0, truncated: 0 },
      detail: 'all 5 files match SHA256SUMS (sha256sum)',
    });
  });

  test('passes with a binary-mode (sha256sum -b) manifest', async () => {
    await restoredWithSha256sums(['-b']);
    expect((await runCheck({ path: 'SHA256SUMS' })).verdict).toBe('passed');
  });

  test('fails naming a file with one flipped byte', async () => {
    await restoredWithSha256sums();
    await flipByte(join(bench.scratch, 'data/big.bin'));
    const result = await runCheck({ path: 'SHA256SUMS' });
    expect(result.verdict).toBe('failed');
    expect(result.actual).toEqual({ verified: 4, missing: 0, changed: 1, truncated: 0 });
    expect(result.findings).toEqual([
      {
        item: 'data/big.bin',
        problem: 'changed',
        expected: { sha256: createHash('sha256').update(FILES['data/big.bin']).digest('hex') },
        actual: { size: 1_500_000, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
      },
    ]);
    expect(result.detail).toBe("1 problem with SHA256SUMS: changed 'data/big.bin'");
  });

  test('fails naming a truncated file (as changed: sha256sum records no sizes)', async () => {
    await restoredWithSha256sums();
    await truncate(join(bench.scratch, 'docs/with space.txt'), 3);
    const result = await runCheck({ path: 'SHA256SUMS' });
    expect(result.verdict).toBe('failed');
    expect(result.findings).toEqual([
      expect.objectContaining({ item: 'docs/with space.txt', problem: 'changed' }),
    ]);
  });

  test('fails naming a file that was not restored', async () => {
    await restoredWithSha256sums();
    await unlink(join(bench.scratch, 'docs/new\nline.txt'));
    const result = await runCheck({ path: 'SHA256SUMS' });
    expect(result.verdict).toBe('failed');
    expect(result.actual).toEqual({ verified: 4, missing: 1, changed: 0, truncated: 0 });
    expect(result.findings).toEqual([
      {
        item: 'docs/new\\nline.txt',
        problem: 'missing',
        expected: { sha256: expect.any(String) },
        actual: null,
      },
    ]);
  });

  describe('a listed name restored as a symbolic link (`sha256sum *` follows links)', () => {
    /** The set's SHA256SUMS by the real sha256sum over the files and `links`, restored into scratch. */
    async function withLinks(
      links: Record<string, string>,
      damage: () => Promise<void> = async () => {},
    ): Promise<CheckContext> {
      for (const [name, target] of Object.entries(links))
        await symlink(target, join(bench.setDir, name));
      await writeFile(
        join(bench.setDir, 'SHA256SUMS'),
        await sha256sumOutput(bench.setDir, [...NAMES, ...Object.keys(links)]),
      );
      await copyInto(bench.setDir, bench.scratch);
      await damage();
      return contextFor(bench, {
        outcome: {
          links: Object.entries(links).map(([path, target]) => ({ path, target })),
        },
      });
    }

    test('is verified by the bytes of the file it leads to inside the set, through links', async () => {
      const context = await withLinks({
        'link.txt': 'a.txt',
        'docs/up.txt': '../link.txt',
        'full.txt': join(bench.setDir, 'data', 'big.bin'),
      });
      const result = await runCheck({ path: 'SHA256SUMS' }, context);
      expect(result.verdict, result.detail).toBe('passed');
      expect(result.actual).toMatchObject({ verified: NAMES.length + 3, verifiedThroughLinks: 3 });
    });

    test('fails naming the listed name and its link when the file it leads to changed', async () => {
      const context = await withLinks({ 'link.txt': 'a.txt' }, () =>
        writeFile(join(bench.scratch, 'a.txt'), 'alphA\n'),
      );
      const result = await runCheck({ path: 'SHA256SUMS' }, context);
      expect(result.verdict).toBe('failed');
      expect(result.findings?.map((finding) => [finding.item, finding.problem])).toEqual([
        ['a.txt', 'changed'],
        ['link.txt', 'changed'],
      ]);
      expect(result.findings?.[1]?.actual).toMatchObject({ link: 'a.txt' });
    });

    test('says link-not-file, not missing, when the link leads outside the set', async () => {
      const outside = join(bench.setDir, '..', 'outside.txt');
      await writeFile(outside, 'alpha\n');
      const context = await withLinks({ 'link.txt': outside });
      const result = await runCheck({ path: 'SHA256SUMS' }, context);
      expect(result.verdict).toBe('failed');
      expect(result.findings).toEqual([
        {
          item: 'link.txt',
          problem: 'link-not-file',
          expected: { sha256: createHash('sha256').update('alpha\n').digest('hex') },
          actual: { link: outside },
        },
      ]);
      expect(result.detail).toBe("1 problem with SHA256SUMS: link-not-file 'link.txt'");
    });
  });

  test('still passes when an extra file is restored (that is the extraFiles check)', async () => {
    await restoredWithSha256sums();
    await writeFile(join(bench.scratch, 'surprise.txt'), 'not in the manifest');
    expect((await runCheck({ path: 'SHA256SUMS' })).verdict).toBe('passed');
  });

  test("fails naming a manifest entry with a '..' component", async () => {
    await writeFile(
      join(bench.setDir, 'SHA256SUMS'),
      (await sha256sumOutput(bench.setDir, NAMES)) + `${'0'.repeat(64)}  ../evil.txt\n`,
    );
    await copyInto(bench.setDir, bench.scratch);
    const result = await runCheck({ path: 'SHA256SUMS' });
    expect(result.verdict).toBe('failed');
    expect(result.actual).toMatchObject({ verified: 5, manifestProblems: 1 });
    expect(result.findings).toEqual([
      {
        item: '../evil.txt',
        problem: 'unsafe-entry',
        expected: 'a path relative to the set, without ..',
        actual: { line: 6, reason: expect.stringContaining("'..'") },
      },
    ]);
    expect(result.detail).toContain("unsafe-entry '../evil.txt'");
  });

  test('fails naming a malformed line by manifest and line number', async () => {
    const output = await sha256sumOutput(bench.setDir, NAMES);
    const lines = output.trimEnd().split('\n');
    lines.splice(2, 0, 'garbage that is not a checksum line');
    await writeFile(join(bench.setDir, 'SHA256SUMS'), `${lines.join('\n')}\n`);
    await copyInto(bench.setDir, bench.scratch);
    const result = await runCheck({ path: 'SHA256SUMS' });
    expect(result.verdict).toBe('failed');
    expect(result.findings).toEqual([
      {
        item: 'SHA256SUMS:3',
        problem: 'malformed-line',
        actual: {
          line: 3,
          text: 'garbage that is not a checksum line',
          reason: expect.any(String),
        },
      },
    ]);
  });

  test('hashes files again from scratch when the source did not hash them, and still catches a flipped byte', async () => {
    await restoredWithSha256sums();
    const unhashed = (await scanScratch(bench.scratch)).map(
      ({ path, size }) => ({ path, size }) as { path: string; size: number; sha256: string },
    );
    expect(
      (
        await runCheck(
          { path: 'SHA256SUMS' },
          await contextFor(bench, { outcome: { files: unhashed } }),
        )
      ).verdict,
    ).toBe('passed');
    await flipByte(join(bench.scratch, 'a.txt'));
    const result = await runCheck(
      { path: 'SHA256SUMS' },
      await contextFor(bench, { outcome: { files: unhashed } }),
    );
    expect(result.findings).toEqual([
      expect.objectContaining({ item: 'a.txt', problem: 'changed' }),
    ]);
  });

  test('names a listed file it cannot read back from scratch', async () => {
    await restoredWithSha256sums();
    const unhashed = (await scanScratch(bench.scratch)).map(
      ({ path, size }) => ({ path, size }) as { path: string; size: number; sha256: string },
    );
    await unlink(join(bench.scratch, 'a.txt'));
    const result = await runCheck(
      { path: 'SHA256SUMS' },
      await contextFor(bench, { outcome: { files: unhashed } }),
    );
    expect(result.verdict).toBe('failed');
    expect(result.findings).toEqual([
      {
        item: 'a.txt',
        problem: 'unreadable',
        expected: { sha256: expect.any(String) },
        actual: { error: 'cannot read the restored file: ENOENT' },
      },
    ]);
    expect(result.actual).toMatchObject({ unreadable: 1 });
  });

  test('fails on a manifest that lists nothing', async () => {
    await writeFile(join(bench.setDir, 'SHA256SUMS'), '\n');
    await copyInto(bench.setDir, bench.scratch);
    const result = await runCheck({ path: 'SHA256SUMS' });
    expect(result.verdict).toBe('failed');
    expect(result.findings).toEqual([
      {
        item: 'SHA256SUMS',
        problem: 'empty-manifest',
        expected: 'at least one file',
        actual: 'no files listed',
      },
    ]);
  });

  test('caps findings in evidence but counts them all', async () => {
    const many = Array.from(
      { length: 150 },
      (_, i) => `${'0'.repeat(64)}  missing-${String(i).padStart(3, '0')}.txt`,
    ).join('\n');
    await writeFile(join(bench.setDir, 'SHA256SUMS'), many);
    await copyInto(bench.setDir, bench.scratch);
    const result = await runCheck({ path: 'SHA256SUMS' });
    expect(result.findings).toHaveLength(MAX_FINDINGS);
    expect(result.findingsTotal).toBe(150);
    expect(result.detail).toMatch(
      /^150 problems with SHA256SUMS: missing 'missing-000.txt', missing 'missing-001.txt', missing 'missing-002.txt' and 147 more$/,
    );
  });
});

describe('manifest location', () => {
  test('one answer to where the manifest is in the set, for the sample and for the checks', () => {
    const folderSet = {
      id: '/b/2026-12-01',
      path: '/b/2026-12-01',
      size: null,
      mtime: null,
      hash: null,
    };
    const archive = { ...folderSet, id: '/b/a.tar', path: '/b/a.tar' };
    const bucket = { ...folderSet, id: 'k/', path: 's3://bucket/k/' };
    expect(manifestPathInSet(undefined, folderSet)).toBeNull();
    expect(manifestPathInSet({ path: 'SHA256SUMS' }, folderSet)).toBe('SHA256SUMS');
    expect(manifestPathInSet({ path: './meta/SHA256SUMS' }, folderSet)).toBe('meta/SHA256SUMS');
    expect(manifestPathInSet({ path: '{set}/SHA256SUMS' }, folderSet)).toBe('SHA256SUMS');
    expect(manifestPathInSet({ path: '/b/2026-12-01/x/SUMS' }, folderSet)).toBe('x/SUMS');
    expect(manifestPathInSet({ path: '/elsewhere/SUMS' }, folderSet)).toBeNull();
    expect(manifestPathInSet({ path: '{set}.sha256' }, folderSet)).toBeNull();
    expect(manifestPathInSet({ path: '{set}.sha256' }, archive)).toBeNull();
    expect(manifestPathInSet({ path: 'SHA256SUMS' }, bucket)).toBe('SHA256SUMS');
    expect(manifestPathInSet({ path: '../up' }, folderSet)).toBeNull();
  });

  test('reads an absolute manifest outside the set', async () => {
    const outside = join(bench.root, 'elsewhere.sha256');
    await writeFile(outside, await sha256sumOutput(bench.setDir, NAMES));
    await copyInto(bench.setDir, bench.scratch);
    const result = await runCheck({ path: outside });
    expect(result).toMatchObject({ verdict: 'passed', expected: { manifest: outside, files: 5 } });
  });

  test("replaces {set} with the set's path, for a manifest beside the set", async () => {
    await writeFile(`${bench.setDir}.sha256`, await sha256sumOutput(bench.setDir, NAMES));
    await copyInto(bench.setDir, bench.scratch);
    const result = await runCheck({ path: '{set}.sha256' });
    expect(result).toMatchObject({
      verdict: 'passed',
      expected: { manifest: `${bench.setDir}.sha256` },
    });
  });

  test('judges nothing (check broken, not failed) when the drill may not read a manifest beside the set', async () => {
    await writeFile(`${bench.setDir}.sha256`, await sha256sumOutput(bench.setDir, NAMES));
    await chmod(`${bench.setDir}.sha256`, 0o000);
    await copyInto(bench.setDir, bench.scratch);
    const context = await contextFor(bench);
    await chmod(bench.root, 0o755);
    const error: unknown = await asUnprivileged(() =>
      check({ path: '{set}.sha256' }).run(context),
    ).then(
      () => null,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(CheckBrokenError);
    expect((error as Error).message).toMatch(
      new RegExp(
        `^manifest ${bench.setDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.sha256 cannot be read: permission denied to uid \\d+.*; run the drill as a user who can read it$`,
      ),
    );
  });

  test('treats a manifest given as {set}/NAME as part of the set: not compared', async () => {
    await restoredWithSha256sums();
    expect(locateManifest({ path: '{set}/SHA256SUMS' }, bench.set, bench.scratch)).toMatchObject({
      ok: true,
      inSet: 'SHA256SUMS',
      where: 'local file',
    });
    expect((await runCheck({ path: '{set}/SHA256SUMS' })).actual).toMatchObject({ verified: 5 });
  });

  test('fails naming a relative manifest that is not in the restored set', async () => {
    await copyInto(bench.setDir, bench.scratch);
    const result = await runCheck({ path: 'SHA256SUMS' });
    expect(result).toEqual({
      name: 'manifest',
      verdict: 'failed',
      expected: { manifest: 'SHA256SUMS', format: 'sha256sum' },
      actual: { readable: false, reason: 'cannot read it: not found in the restored set' },
      detail: 'manifest SHA256SUMS cannot be used: cannot read it: not found in the restored set',
      findings: [
        {
          item: 'SHA256SUMS',
          problem: 'unusable-manifest',
          actual: 'cannot read it: not found in the restored set',
        },
      ],
      findingsTotal: 1,
    });
  });

  test('fails naming a manifest that cannot be parsed in its format', async () => {
    await writeFiles(bench.setDir, {
      'manifest.json': '{"format": "restore-drill-manifest", "files": [',
    });
    await copyInto(bench.setDir, bench.scratch);
    const result = await runCheck({ format: 'restore-drill', path: 'manifest.json' });
    expect(result.verdict).toBe('failed');
    expect(result.detail).toBe(
      'manifest manifest.json cannot be used: not valid JSON at line 1: unexpected end of file; the JSON object is not closed',
    );
  });

  test('refuses a relative manifest path that leaves the set', async () => {
    await copyInto(bench.setDir, bench.scratch);
    const result = await runCheck({ path: '../outside.sha256' });
    expect(result.verdict).toBe('failed');
    expect(result.detail).toContain(
      'manifest ../outside.sha256 cannot be used: a relative manifest path must name a file inside the set',
    );
  });

  test('refuses {set} for a set in object storage, saying what to do instead', async () => {
    await copyInto(bench.setDir, bench.scratch);
    const context = await contextFor(bench, {
      set: { ...bench.set, path: 's3://bucket/backups/2026-01-01.tar' },
    });
    const result = await runCheck({ path: '{set}.sha256' }, context);
    expect(result.verdict).toBe('failed');
    expect(result.detail).toBe(
      'manifest s3://bucket/backups/2026-01-01.tar.sha256 cannot be used: it is not a local file ({set} is s3://bucket/backups/2026-01-01.tar); keep the manifest in the set and give its path relative to the set',
    );
  });
});

describe('manifest check with a sample', () => {
  test('does not count entries outside the sample as missing, but does count chosen ones', async () => {
    await restoredWithSha256sums();
    await rm(join(bench.scratch, 'docs'), { recursive: true });
    await unlink(join(bench.scratch, 'data/big.bin'));
    const sample = new Set(['a.txt', 'empty.dat', 'data/big.bin', 'SHA256SUMS']);
    const result = await runCheck(
      { path: 'SHA256SUMS' },
      await contextFor(bench, { sampled: true, sample }),
    );
    expect(result.verdict).toBe('failed');
    expect(result.expected).toEqual({
      manifest: 'SHA256SUMS',
      format: 'sha256sum',
      files: 3,
      sampled: true,
    });
    expect(result.actual).toEqual({ verified: 2, missing: 1, changed: 0, truncated: 0 });
    expect(result.findings).toEqual([
      expect.objectContaining({ item: 'data/big.bin', problem: 'missing' }),
    ]);
  });

  test('treats a sampled folder as choosing everything under it', async () => {
    await restoredWithSha256sums();
    await unlink(join(bench.scratch, 'a.txt'));
    const result = await runCheck(
      { path: 'SHA256SUMS' },
      await contextFor(bench, { sampled: true, sample: new Set(['docs', 'SHA256SUMS']) }),
    );
    expect(result).toMatchObject({
      verdict: 'passed',
      expected: { files: 2 },
      detail: 'all 2 sampled files match SHA256SUMS (sha256sum)',
    });
    expect(isChosen(new Set(['docs']), 'docs/x/y')).toBe(true);
    expect(isChosen(new Set(['docs']), 'docsx/y')).toBe(false);
  });

  test('says so when sampled without the chosen paths, rather than calling everything missing', async () => {
    await restoredWithSha256sums();
    await unlink(join(bench.scratch, 'a.txt'));
    const result = await runCheck(
      { path: 'SHA256SUMS' },
      await contextFor(bench, { sampled: true, sample: null }),
    );
    expect(result.verdict).toBe('passed');
    expect(result.actual).toMatchObject({
      verified: 4,
      missing: 0,
      missingNotChecked: 'sampled without the list of chosen paths',
    });
  });
});

describe('manifest check with a sample', () => {
  test('hints that a sample must include the manifest when it was not restored', async () => {
    await copyInto(bench.setDir, bench.scratch);
    const result = await runCheck(
      { path: 'SHA256SUMS' },
      await contextFor(bench, { sampled: true, sample: new Set(['a.txt']) }),
    );
    expect(result.detail).toBe(
      'manifest SHA256SUMS cannot be used: cannot read it: not found in the restored set (a sample must include the manifest)',
    );
  });
});

describe('manifest check on a real pg_basebackup backup', () => {
  let server: ScratchServer;
  let backup: string;
  beforeAll(async () => {
    server = await startScratchServer();
    // With its WAL (-X stream), as a backup that restores on its own is taken.
    backup = await server.baseBackup('base', ['-X', 'stream']);
  });
  afterAll(async () => {
    await server?.stop();
  });

  test('fails a copy without the WAL its WAL-Ranges need, naming each segment (it would not start)', async () => {
    await copyInto(backup, bench.scratch);
    const walDir = join(bench.scratch, 'pg_wal');
    const segments = (await readdir(walDir)).filter((name) => /^[0-9A-F]{24}$/.test(name));
    expect(segments.length).toBeGreaterThan(0);
    const manifest = JSON.parse(await readFile(join(backup, 'backup_manifest'), 'utf8')) as {
      'WAL-Ranges': { Timeline: number; 'Start-LSN': string; 'End-LSN': string }[];
    };
    const [range] = manifest['WAL-Ranges'];
    for (const name of segments) await unlink(join(walDir, name));
    const result = await runCheck({ format: 'backup_manifest', path: 'backup_manifest' });
    expect(result.verdict).toBe('failed');
    expect(result.findings).toContainEqual({
      item: `pg_wal/${segments.sort()[0]}`,
      problem: 'missing-wal',
      expected: {
        walRange: `timeline ${range!.Timeline} ${range!['Start-LSN']}–${range!['End-LSN']}`,
      },
      actual: null,
    });
    expect(result.actual).toMatchObject({ missingWalSegments: expect.any(Number) });
    // WAL kept by archiving (a -X none backup) is not looked for in the backup, when told so.
    const archived = await runCheck({
      format: 'backup_manifest',
      path: 'backup_manifest',
      wal: 'archived',
    });
    expect(archived.verdict).toBe('passed');
    // A sample cannot hold pg_wal/: the WAL is judged only when the whole backup came back.
    const sampled = await runCheck(
      { format: 'backup_manifest', path: 'backup_manifest' },
      { ...(await contextFor(bench)), sampled: true, sample: new Set(['PG_VERSION']) },
    );
    expect(sampled.findings ?? []).not.toContainEqual(
      expect.objectContaining({ problem: 'missing-wal' }),
    );
  });

  test('passes on an intact copy and names a corrupted, a truncated and a deleted file', async () => {
    await copyInto(backup, bench.scratch);
    const config = manifestCheckConfigSchema.parse({
      format: 'backup_manifest',
      path: 'backup_manifest',
    });
    const loader = new ManifestLoader(config);
    const checks = [new ManifestCheck(config, loader), new ExtraFilesCheck('fail', loader)];
    const run = async () => {
      const context = await contextFor(bench);
      return Promise.all(checks.map(async (c) => (await c.run(context))[0]!));
    };

    const [good, extra] = await run();
    expect(good!.verdict).toBe('passed');
    expect(good!.detail).toMatch(
      /^all \d+ files match backup_manifest \(backup_manifest\); the WAL its WAL-Ranges need is there, \d+ records whole$/,
    );
    expect(extra!.verdict).toBe('passed');

    // WAL and files pg_basebackup -R writes are not in the manifest, and not extra.
    await writeFiles(bench.scratch, {
      'pg_wal/0000000100000000000000FF': 'wal',
      'standby.signal': '',
    });
    await flipByte(join(bench.scratch, 'global/pg_control'));
    await truncate(join(bench.scratch, 'PG_VERSION'), 1);
    await unlink(join(bench.scratch, 'global/1260'));
    const [bad, extraAfter] = await run();
    expect(bad!.verdict).toBe('failed');
    expect(bad!.findings).toEqual([
      {
        item: 'PG_VERSION',
        problem: 'truncated',
        expected: { size: 3, crc32c: '8a744722' },
        actual: { size: 1 },
      },
      {
        item: 'global/pg_control',
        problem: 'changed',
        expected: { size: 8192, crc32c: expect.any(String) },
        actual: { size: 8192, crc32c: expect.any(String) },
      },
      {
        item: 'global/1260',
        problem: 'missing',
        expected: { size: expect.any(Number), crc32c: expect.any(String) },
        actual: null,
      },
    ]);
    expect(extraAfter!.verdict).toBe('passed');
  });

  /** A restored backup's one WAL range: its LSNs, the segment it starts in and where they fall in it. */
  async function walRangeOf(backupDir: string) {
    const manifest = JSON.parse(await readFile(join(backupDir, 'backup_manifest'), 'utf8')) as {
      'WAL-Ranges': { Timeline: number; 'Start-LSN': string; 'End-LSN': string }[];
    };
    expect(manifest['WAL-Ranges']).toHaveLength(1);
    const range = manifest['WAL-Ranges'][0]!;
    const start = parseLsn(range['Start-LSN']);
    const walDir = join(bench.scratch, 'pg_wal');
    const [first] = (await readdir(walDir)).filter((name) => /^[0-9A-F]{24}$/.test(name));
    const segmentBytes = (await stat(join(walDir, first!))).size;
    const segment = segmentName(range.Timeline, start, segmentBytes);
    return {
      range,
      start,
      end: parseLsn(range['End-LSN']),
      segment,
      file: join(walDir, segment),
      offsetOf: (lsn: bigint) => Number(lsn % BigInt(segmentBytes)),
      walRange: `timeline ${range.Timeline} ${range['Start-LSN']}–${range['End-LSN']}`,
    };
  }

  test('fails naming the segment and LSN of a byte flipped inside the WAL range, not one after it', async () => {
    await copyInto(backup, bench.scratch);
    const wal = await walRangeOf(backup);
    const config = { format: 'backup_manifest', path: 'backup_manifest' };

    // Halfway into the range's first record (past its length): its CRC no longer matches.
    const length = (await readFile(wal.file)).readUInt32LE(wal.offsetOf(wal.start));
    const inside = wal.offsetOf(wal.start) + Math.floor(length / 2);
    await flipByte(wal.file, inside);
    const damaged = await runCheck(config);
    expect(damaged.verdict).toBe('failed');
    expect(damaged.findings).toEqual([
      {
        item: `pg_wal/${wal.segment}`,
        problem: 'damaged-wal',
        expected: { walRange: wal.walRange },
        actual: `record CRC mismatch at LSN ${wal.range['Start-LSN']}`,
      },
    ]);
    expect(damaged.actual).toMatchObject({ damagedWalRanges: 1, walRecordsVerified: 0 });

    // After End-LSN the segment holds what the server wrote after the backup: not judged.
    await flipByte(wal.file, inside);
    await flipByte(wal.file, wal.offsetOf(wal.end) + 8);
    const after = await runCheck(config);
    expect(after.verdict).toBe('passed');
    expect(after.actual).toMatchObject({ walRecordsVerified: expect.any(Number) });
  });

  test('passes a backup whose WAL range spans pages, written to while it was taken', async () => {
    await server.sql('create table busy (body text)');
    await server.sql('create table busy_stop ()');
    const insertLsn = async () => parseLsn(await server.sql('select pg_current_wal_insert_lsn()'));
    const before = await insertLsn();
    // Writes records of 20 kB (each across pages) until told to stop, from another session.
    const writer = server.sql(
      "do $$ begin while not exists (select from busy_stop) loop perform pg_logical_emit_message(false, 'drill', repeat('x', 20000)); insert into busy select repeat(md5(random()::text), 100); perform pg_sleep(0.005); end loop; end $$",
    );
    let busy: string;
    try {
      // Taken once the writer is writing, so that its records fall inside the backup's range.
      while ((await insertLsn()) - before < 100_000n) await Promise.race([setTimeout(10), writer]);
      busy = await server.baseBackup('busy', ['-X', 'stream', '--checkpoint=fast']);
    } finally {
      await server.sql('insert into busy_stop default values');
      await writer;
    }
    await copyInto(busy, bench.scratch);
    const wal = await walRangeOf(busy);
    expect(wal.end - wal.start).toBeGreaterThan(4n * 8192n);
    const result = await runCheck({ format: 'backup_manifest', path: 'backup_manifest' });
    expect(result.verdict).toBe('passed');
    expect((result.actual as { walRecordsVerified: number }).walRecordsVerified).toBeGreaterThan(4);
  });
});

describe('manifest check with restore-drill manifests', () => {
  async function writeRestoreDrillManifest(extra?: (text: string) => string): Promise<void> {
    const file = join(bench.root, 'manifest.json');
    const stream = createWriteStream(file);
    await writeManifestForFolder(bench.setDir, stream);
    stream.end();
    await finished(stream);
    if (extra) {
      const { readFile } = await import('node:fs/promises');
      await writeFile(file, extra(await readFile(file, 'utf8')));
    }
    await copyInto(bench.setDir, bench.scratch);
  }

  test('passes on an intact restore', async () => {
    await writeRestoreDrillManifest();
    const result = await runCheck({
      format: 'restore-drill',
      path: join(bench.root, 'manifest.json'),
    });
    expect(result).toMatchObject({ verdict: 'passed', actual: { verified: 5 } });
  });

  test("says 'truncated' for a file shorter than recorded", async () => {
    await writeRestoreDrillManifest();
    await truncate(join(bench.scratch, 'data/big.bin'), 1000);
    const result = await runCheck({
      format: 'restore-drill',
      path: join(bench.root, 'manifest.json'),
    });
    expect(result.findings).toEqual([
      {
        item: 'data/big.bin',
        problem: 'truncated',
        expected: { size: 1_500_000, sha256: expect.any(String) },
        actual: { size: 1000 },
      },
    ]);
    expect(result.actual).toEqual({ verified: 4, missing: 0, changed: 0, truncated: 1 });
  });

  test("says 'changed' for a file longer than recorded", async () => {
    await writeRestoreDrillManifest();
    await appendFile(join(bench.scratch, 'a.txt'), 'more');
    const result = await runCheck({
      format: 'restore-drill',
      path: join(bench.root, 'manifest.json'),
    });
    expect(result.findings).toEqual([
      {
        item: 'a.txt',
        problem: 'changed',
        expected: { size: 6, sha256: expect.any(String) },
        actual: { size: 10 },
      },
    ]);
  });

  test('compares restored tables with the row counts recorded', async () => {
    await writeRestoreDrillManifest((text) =>
      text.replace(
        /\n\]\}\n$/,
        '\n],"tables":[{"name":"public.users","rows":10},{"name":"public.orders","rows":5},{"name":"public.gone","rows":1}]}\n',
      ),
    );
    const context = await contextFor(bench, {
      outcome: {
        tables: [
          { name: 'public.users', rows: 10 },
          { name: 'public.orders', rows: 4 },
        ],
      },
    });
    const result = await runCheck(
      { format: 'restore-drill', path: join(bench.root, 'manifest.json') },
      context,
    );
    expect(result.verdict).toBe('failed');
    expect(result.expected).toMatchObject({ tables: 3 });
    expect(result.actual).toMatchObject({ verified: 5, tablesVerified: 1 });
    expect(result.findings).toEqual([
      {
        item: 'table public.orders',
        problem: 'rows-differ',
        expected: { rows: 5 },
        actual: { rows: 4 },
      },
      { item: 'table public.gone', problem: 'missing', expected: { rows: 1 }, actual: null },
    ]);
  });
});

describe('manifest check with PostgreSQL backup manifests', () => {
  /** A hand-written backup_manifest with pg's own checksum rule (real ones are tested with pg_basebackup). */
  function pgManifest(
    files: { path: string; size: number; algorithm: string; checksum: string }[],
  ): string {
    const lines = files.map(
      (f) =>
        `{ "Path": "${f.path}", "Size": ${f.size}, "Last-Modified": "2026-01-01 00:00:00 GMT", "Checksum-Algorithm": "${f.algorithm}", "Checksum": "${f.checksum}" }`,
    );
    const body = `{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [\n${lines.join(',\n')}\n],\n`;
    return `${body}"Manifest-Checksum": "${createHash('sha256').update(body).digest('hex')}"}\n`;
  }

  test('fails naming the manifest when its own checksum does not match', async () => {
    const text = pgManifest([
      {
        path: 'a.txt',
        size: 6,
        algorithm: 'CRC32C',
        checksum: crc32cHex(crc32c(Buffer.from(FILES['a.txt']))),
      },
    ]);
    await writeFiles(bench.setDir, { backup_manifest: text.replace('"Size": 6', '"Size":  6') });
    await copyInto(bench.setDir, bench.scratch);
    const result = await runCheck({ format: 'backup_manifest', path: 'backup_manifest' });
    expect(result.verdict).toBe('failed');
    expect(result.actual).toMatchObject({ verified: 1, manifestProblems: 1 });
    expect(result.findings).toEqual([
      {
        item: 'backup_manifest',
        problem: 'manifest-checksum',
        actual: { line: 5, reason: expect.stringContaining('altered or damaged') },
      },
    ]);
  });

  test('accepts a CRC-32C written in either byte order, and rejects a wrong one', async () => {
    const value = crc32c(Buffer.from(FILES['a.txt']));
    const littleEndian = crc32cHex(value);
    const bigEndian = value.toString(16).padStart(8, '0');
    expect(bigEndian).not.toBe(littleEndian);
    await writeFiles(bench.setDir, {
      backup_manifest: pgManifest([
        { path: 'a.txt', size: 6, algorithm: 'CRC32C', checksum: littleEndian },
        { path: 'empty.dat', size: 0, algorithm: 'CRC32C', checksum: '00000000' },
        { path: 'docs/with space.txt', size: 7, algorithm: 'CRC32C', checksum: 'deadbeef' },
      ]),
    });
    await copyInto(bench.setDir, bench.scratch);
    const first = await runCheck({ format: 'backup_manifest', path: 'backup_manifest' });
    expect(first.findings).toEqual([
      {
        item: 'docs/with space.txt',
        problem: 'changed',
        expected: { size: 7, crc32c: 'deadbeef' },
        actual: { size: 7, crc32c: crc32cHex(crc32c(Buffer.from('spaced\n'))) },
      },
    ]);
    await writeFile(
      join(bench.scratch, 'backup_manifest'),
      pgManifest([{ path: 'a.txt', size: 6, algorithm: 'CRC32C', checksum: bigEndian }]),
    );
    expect((await runCheck({ format: 'backup_manifest', path: 'backup_manifest' })).verdict).toBe(
      'passed',
    );
  });
});

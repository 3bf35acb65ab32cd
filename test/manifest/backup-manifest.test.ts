import { createHash } from 'node:crypto';
import { readdir, readFile, rm, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCommand } from '../../src/exec/run-command.js';
import {
  ManifestChecksum,
  parseBackupManifest,
  PG_IGNORED_PATHS,
} from '../../src/manifest/backup-manifest.js';
import { hashFile } from '../../src/manifest/hash-file.js';
import { isIgnored, ManifestReadError, readManifest } from '../../src/manifest/index.js';
import { startScratchServer, type ScratchServer } from '../helpers/pg-basebackup.js';

let server: ScratchServer;
let work: string;
const backups: Record<string, string> = {};
// CRC32C is pg_basebackup's default; SHA512 needs a second hash; SHA256 also encodes every path. SHA224/384 below.
const ALGORITHMS = ['CRC32C', 'SHA256', 'SHA512', 'NONE'] as const;

beforeAll(async () => {
  server = await startScratchServer();
  work = await mkdtemp(join(tmpdir(), 'restore-drill-backup-manifest-'));
  for (const algorithm of ALGORITHMS) {
    const encode = algorithm === 'SHA256' ? ['--manifest-force-encode'] : [];
    backups[algorithm] = await server.baseBackup(`backup-${algorithm}`, [
      `--manifest-checksums=${algorithm}`,
      ...encode,
    ]);
  }
});
afterAll(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function filesUnder(root: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(root, prefix), { withFileTypes: true })) {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await filesUnder(root, path)));
    else if (entry.isFile()) out.push(path);
  }
  return out.sort();
}

/** The pg rule, written out for hand-made manifests: SHA-256 of everything before the last line. */
function withChecksum(body: string): string {
  return `${body}"Manifest-Checksum": "${createHash('sha256').update(body).digest('hex')}"}\n`;
}

async function manifestFrom(text: string) {
  const file = join(work, `manifest-${Math.random().toString(36).slice(2)}`);
  await writeFile(file, text);
  return parseBackupManifest(file);
}

describe('PostgreSQL backup_manifest', () => {
  test.each(ALGORITHMS)(
    'reads a real pg_basebackup manifest with %s checksums and agrees with every file in the backup',
    async (algorithm) => {
      const root = backups[algorithm]!;
      const manifest = await parseBackupManifest(join(root, 'backup_manifest'));
      expect(manifest.problems).toEqual([]);
      expect(manifest.format).toBe('backup_manifest');
      const onDisk = (await filesUnder(root)).filter((path) => path !== 'backup_manifest');
      expect([...manifest.files.keys()].sort()).toEqual(onDisk);
      for (const [path, entry] of manifest.files) {
        const algorithmName = entry.sha256 !== undefined ? 'sha256' : entry.algorithm;
        const hashed = await hashFile(join(root, path), algorithmName ? [algorithmName] : []);
        expect(hashed.size, path).toBe(entry.size);
        if (algorithmName)
          expect(hashed.digests[algorithmName], path).toBe(entry.sha256 ?? entry.digest);
      }
      if (algorithm === 'NONE')
        expect(
          [...manifest.files.values()].every(
            (entry) => entry.sha256 === undefined && entry.digest === undefined,
          ),
        ).toBe(true);
    },
  );

  test('decodes Encoded-Path entries (--manifest-force-encode) to the same paths', async () => {
    const encoded = await parseBackupManifest(join(backups.SHA256!, 'backup_manifest'));
    const plain = await parseBackupManifest(join(backups.CRC32C!, 'backup_manifest'));
    const text = await readFile(join(backups.SHA256!, 'backup_manifest'), 'utf8');
    expect(text.includes('"Encoded-Path"') && !text.includes('"Path"')).toBe(true);
    expect(encoded.problems).toEqual([]);
    expect([...encoded.files.keys()].sort()).toEqual([...plain.files.keys()].sort());
  });

  test('leaves out what pg_verifybackup leaves out: the manifest, pg_wal/, and files -R rewrites', () => {
    expect(PG_IGNORED_PATHS).toEqual([
      'backup_manifest',
      'pg_wal/',
      'postgresql.auto.conf',
      'recovery.signal',
      'standby.signal',
    ]);
    const manifest = { ignored: PG_IGNORED_PATHS };
    expect(isIgnored(manifest, 'pg_wal/000000010000000000000002')).toBe(true);
    expect(isIgnored(manifest, 'pg_walx')).toBe(false);
    expect(isIgnored(manifest, 'base/1/1259')).toBe(false);
  });

  test('catches a manifest edited after the backup, as pg_verifybackup does', async () => {
    const root = backups.CRC32C!;
    const original = await readFile(join(root, 'backup_manifest'), 'utf8');
    const tampered = original.replace(
      '"Path": "PG_VERSION", "Size": 3',
      '"Path": "PG_VERSION", "Size": 4',
    );
    expect(tampered).not.toBe(original);
    await writeFile(join(root, 'backup_manifest'), tampered);
    try {
      const verify = await runCommand('/usr/lib/postgresql/15/bin/pg_verifybackup', ['-n', root]);
      expect(verify.exitCode).not.toBe(0);
      expect(verify.stderrTail).toContain('manifest checksum mismatch');
      const manifest = await parseBackupManifest(join(root, 'backup_manifest'));
      expect(manifest.problems).toEqual([
        {
          line: expect.any(Number),
          problem: 'manifest-checksum',
          item: 'Manifest-Checksum',
          message: expect.stringContaining('does not match'),
        },
      ]);
      expect(manifest.files.get('PG_VERSION')?.size).toBe(4);
    } finally {
      await writeFile(join(root, 'backup_manifest'), original);
    }
  });

  test('computes the manifest checksum the same however the bytes are chunked', async () => {
    const bytes = await readFile(join(backups.CRC32C!, 'backup_manifest'));
    const stated = /"Manifest-Checksum": "([0-9a-f]{64})"/.exec(bytes.toString())![1];
    for (const size of [1, 2, 3, 17, 150, 4096, bytes.length]) {
      const checksum = new ManifestChecksum();
      for (let at = 0; at < bytes.length; at += size)
        checksum.update(bytes.subarray(at, at + size));
      expect(checksum.digest(), `chunks of ${size}`).toEqual({ ok: true, hex: stated });
    }
  });

  test('reads SHA224 and SHA384 entries with the digests sha224sum and sha384sum give', async () => {
    const file = join(backups.CRC32C!, 'PG_VERSION');
    const digest = async (tool: string) =>
      (await runCommand(tool, [file])).stdoutTail.split(' ')[0]!;
    const sha224 = await digest('sha224sum');
    const sha384 = await digest('sha384sum');
    const manifest = await manifestFrom(
      withChecksum(
        `{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [\n{ "Path": "a", "Size": 3, "Checksum-Algorithm": "SHA224", "Checksum": "${sha224}" },\n` +
          `{ "Path": "b", "Size": 3, "Checksum-Algorithm": "SHA384", "Checksum": "${sha384.toUpperCase()}" }\n],\n`,
      ),
    );
    expect(manifest.problems).toEqual([]);
    expect(manifest.files.get('a')).toEqual({
      line: 3,
      size: 3,
      algorithm: 'sha224',
      digest: sha224,
    });
    expect(manifest.files.get('b')).toEqual({
      line: 4,
      size: 3,
      algorithm: 'sha384',
      digest: sha384,
    });
    const hashed = await hashFile(file, ['sha224', 'sha384']);
    expect(hashed.digests).toEqual({ sha224, sha384 });
  });

  test('reports a manifest whose last line has no newline', async () => {
    const text = withChecksum(
      '{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [\n{ "Path": "a", "Size": 1 }\n],\n',
    ).trimEnd();
    const manifest = await manifestFrom(text);
    expect(manifest.problems).toEqual([
      expect.objectContaining({
        problem: 'manifest-checksum',
        message: expect.stringContaining('last line not newline-terminated'),
      }),
    ]);
  });

  test('reports a manifest without a Manifest-Checksum', async () => {
    const manifest = await manifestFrom(
      '{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [\n{ "Path": "a", "Size": 1 }\n]}\n',
    );
    expect(manifest.problems).toEqual([
      expect.objectContaining({
        problem: 'manifest-checksum',
        message: 'the manifest has no "Manifest-Checksum"',
      }),
    ]);
  });

  test('accepts version 2 with its System-Identifier', async () => {
    const manifest = await manifestFrom(
      withChecksum(
        '{ "PostgreSQL-Backup-Manifest-Version": 2,\n"System-Identifier": 7385164412345678901,\n"Files": [\n{ "Path": "a", "Size": 1, "Checksum-Algorithm": "CRC32C", "Checksum": "0badf00d" }\n],\n',
      ),
    );
    expect(manifest.problems).toEqual([]);
    expect(manifest.files.get('a')).toEqual({
      line: 4,
      size: 1,
      algorithm: 'crc32c',
      digest: '0badf00d',
    });
  });

  test('reports each malformed or unsafe file entry by line and keeps the good ones', async () => {
    const body = [
      '{ "PostgreSQL-Backup-Manifest-Version": 1,',
      '"Files": [',
      '{ "Path": "good", "Size": 5, "Checksum-Algorithm": "SHA256", "Checksum": "' +
        'a'.repeat(64) +
        '" },',
      '{ "Path": "../escape", "Size": 1 },',
      '{ "Encoded-Path": "2f6574632f706173737764", "Size": 1 },',
      '{ "Path": "no-size" },',
      '{ "Path": "both", "Encoded-Path": "61", "Size": 1 },',
      '{ "Path": "short", "Size": 1, "Checksum-Algorithm": "CRC32C", "Checksum": "abc" },',
      '{ "Path": "odd", "Size": 1, "Checksum-Algorithm": "MD5", "Checksum": "00" },',
      '{ "Path": "extra-field", "Size": 1, "Owner": "root" }',
      '],',
      '"Surprise": 1,',
      '',
    ].join('\n');
    const manifest = await manifestFrom(withChecksum(body));
    expect([...manifest.files.keys()]).toEqual(['good']);
    expect(manifest.problems.map((p) => [p.line, p.problem, p.item])).toEqual([
      [4, 'unsafe', '../escape'],
      [5, 'unsafe', '/etc/passwd'],
      [6, 'malformed', 'no-size'],
      [7, 'malformed', 'both'],
      [8, 'malformed', 'short'],
      [9, 'malformed', 'odd'],
      [10, 'malformed', 'extra-field'],
      [12, 'malformed', 'Surprise'],
    ]);
    expect(manifest.problems[4]!.message).toContain('8 hex digits');
  });

  test.each([
    ['a sha256sum file', `${'a'.repeat(64)}  file\n`, 'not valid JSON at line 1'],
    [
      'JSON of another kind',
      '{"format": "restore-drill-manifest", "files": []}\n',
      'no "PostgreSQL-Backup-Manifest-Version"',
    ],
    [
      'an unknown version',
      '{ "PostgreSQL-Backup-Manifest-Version": 3,\n"Files": []}\n',
      'unsupported PostgreSQL-Backup-Manifest-Version 3',
    ],
    [
      'a manifest without Files',
      '{ "PostgreSQL-Backup-Manifest-Version": 1 }\n',
      'no "Files" list',
    ],
    [
      'Files that is not a list',
      '{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": {} }\n',
      'line 2: "Files" is not a list',
    ],
    [
      'a truncated manifest',
      '{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [\n{ "Path": "a", "Size": 1 },\n',
      'unexpected end of file',
    ],
  ])('refuses %s with a one-line reason', async (_name, text, message) => {
    const file = join(work, 'not-a-manifest');
    await writeFile(file, text);
    const reading = readManifest(file, 'backup_manifest');
    await expect(reading).rejects.toBeInstanceOf(ManifestReadError);
    await expect(reading).rejects.toThrow(message);
  });
});

import { createWriteStream, unlinkSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { finished, Writable } from 'node:stream';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { runCommand } from '../../src/exec/run-command.js';
import { ManifestReadError, readManifest } from '../../src/manifest/index.js';
import {
  parseRestoreDrillManifest,
  restoreDrillManifestSchema,
  writeManifestForFolder,
} from '../../src/manifest/restore-drill-manifest.js';
import { decodeFileName } from '../../src/model/file-name.js';

let dir: string;
let data: string;
const FILES: Record<string, string | Buffer> = {
  'a.txt': 'alpha\n',
  empty: '',
  'nested/deeper/b.bin': randomBytes(2_500_000),
  'with space.txt': 'space\n',
  'new\nline.txt': 'newline in name\n',
  'ünïcode/ü.txt': 'unicode\n',
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'restore-drill-rdm-'));
  data = join(dir, 'data');
  for (const [path, content] of Object.entries(FILES)) {
    await mkdir(dirname(join(data, path)), { recursive: true });
    await writeFile(join(data, path), content);
  }
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Collects what a writer produced. */
function sink(onWrite?: (text: string) => void): Writable & { text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString());
      onWrite?.(chunk.toString());
      callback();
    },
  });
  return Object.assign(stream, { text: () => chunks.join('') });
}

/** The real sha256sum's digest of one file (first field; a leading backslash marks an escaped name). */
async function sha256sum(file: string): Promise<string> {
  const result = await runCommand('sha256sum', [file]);
  expect(result.exitCode).toBe(0);
  return result.stdoutTail.replace(/^\\/, '').slice(0, 64);
}

describe('writeManifestForFolder', () => {
  test('writes every regular file with its size and the SHA-256 sha256sum gives, in a stable order', async () => {
    const out = sink();
    const result = await writeManifestForFolder(data, out, { source: 'test folder' });
    const document = restoreDrillManifestSchema.parse(JSON.parse(out.text()));
    expect(document.format).toBe('restore-drill-manifest');
    expect(document.source).toBe('test folder');
    expect(Date.now() - Date.parse(document.createdAt)).toBeLessThan(60_000);
    expect(document.files.map((file) => file.path)).toEqual([
      'a.txt',
      'empty',
      'nested/deeper/b.bin',
      'new\\nline.txt',
      'with space.txt',
      'ünïcode/ü.txt',
    ]);
    for (const file of document.files) {
      // Names are recorded in the escaped form (docs/file-names.md): `\n` for a newline.
      const raw = decodeFileName(file.path).toString('utf8');
      expect(file.size, file.path).toBe(Buffer.byteLength(FILES[raw]!));
      expect(file.sha256, file.path).toBe(await sha256sum(join(data, raw)));
    }
    expect(result).toEqual({
      files: 6,
      bytes: document.files.reduce((sum, file) => sum + file.size, 0),
      links: 0,
      skipped: [],
      counted: 0,
      uncounted: [],
    });
  });

  test('gives the same manifest whatever the concurrency', async () => {
    const files = async (concurrency: number) => {
      const out = sink();
      await writeManifestForFolder(data, out, { concurrency });
      return JSON.parse(out.text()).files;
    };
    expect(await files(1)).toEqual(await files(8));
  });

  test('reads back with parseRestoreDrillManifest, one entry per line', async () => {
    const file = join(dir, 'manifest.json');
    const stream = createWriteStream(file);
    await writeManifestForFolder(data, stream);
    stream.end();
    await promisify(finished)(stream);
    const manifest = await parseRestoreDrillManifest(file);
    expect(manifest.problems).toEqual([]);
    expect(manifest.files.get('nested/deeper/b.bin')).toEqual({
      line: 4,
      size: 2_500_000,
      sha256: await sha256sum(join(data, 'nested/deeper/b.bin')),
    });
  });

  test('lists symbolic links by target without following them, and leaves out excluded paths such as the manifest itself', async () => {
    await symlink('/etc/passwd', join(data, 'link-out'));
    await writeFile(join(data, 'MANIFEST.json'), 'being written');
    const out = sink();
    const result = await writeManifestForFolder(data, out, { exclude: ['MANIFEST.json'] });
    expect(result.skipped).toEqual([]);
    expect(result.links).toBe(1);
    const document = restoreDrillManifestSchema.parse(JSON.parse(out.text()));
    expect(document.links).toEqual([{ path: 'link-out', target: '/etc/passwd' }]);
    expect(document.files.map((file) => file.path)).not.toContain('MANIFEST.json');
    expect(document.files.map((file) => file.path)).not.toContain('link-out');
    const file = join(dir, 'with-links.json');
    await writeFile(file, out.text());
    expect((await parseRestoreDrillManifest(file)).links).toEqual(
      new Map([['link-out', { line: 9, target: '/etc/passwd' }]]),
    );
  });

  test('fails naming a file that cannot be read', async () => {
    // With one file at a time, the first row is written before the next file is opened: remove it
    // then, synchronously (an unlink left to finish later raced the open under load).
    const out = sink((text) => {
      if (text.includes('"a.txt"')) unlinkSync(join(data, 'empty'));
    });
    await expect(writeManifestForFolder(data, out, { concurrency: 1 })).rejects.toThrow(
      `cannot read ${join(data, 'empty')}: ENOENT`,
    );
  });

  test('stops when aborted', async () => {
    await expect(
      writeManifestForFolder(data, sink(), { signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('parseRestoreDrillManifest', () => {
  const sha = 'ab'.repeat(32);
  const header = {
    format: 'restore-drill-manifest',
    version: 1,
    createdAt: '2026-01-02T03:04:05.000Z',
  };

  async function parseText(text: string) {
    const file = join(dir, 'm.json');
    await writeFile(file, text);
    return parseRestoreDrillManifest(file);
  }

  test('reads compact JSON with tables', async () => {
    const manifest = await parseText(
      JSON.stringify({
        ...header,
        source: 'db',
        files: [{ path: './x/y.csv', size: 3, sha256: sha.toUpperCase() }],
        tables: [{ name: 'public.users', rows: 42 }],
      }),
    );
    expect(manifest.problems).toEqual([]);
    expect(manifest.files.get('x/y.csv')).toEqual({ line: 1, size: 3, sha256: sha });
    expect(manifest.tables).toEqual(new Map([['public.users', 42]]));
  });

  test('reports each bad entry by line and keeps the good ones', async () => {
    const lines = [
      JSON.stringify(header).slice(0, -1) + ',"files":[',
      JSON.stringify({ path: 'good', size: 1, sha256: sha }) + ',',
      JSON.stringify({ path: 'bad-hash', size: 1, sha256: 'xyz' }) + ',',
      JSON.stringify({ path: 'negative', size: -1, sha256: sha }) + ',',
      JSON.stringify({ path: 'extra-key', size: 1, sha256: sha, mode: 644 }) + ',',
      JSON.stringify({ path: '../up', size: 1, sha256: sha }) + ',',
      JSON.stringify({ path: '/abs', size: 1, sha256: sha }),
      '],"tables":[{"name":"t","rows":-5}]}',
    ];
    const manifest = await parseText(lines.join('\n'));
    expect([...manifest.files.keys()]).toEqual(['good']);
    expect(manifest.problems.map((p) => [p.line, p.problem, p.item])).toEqual([
      [3, 'malformed', 'bad-hash'],
      [4, 'malformed', 'negative'],
      [5, 'malformed', 'extra-key'],
      [6, 'unsafe', '../up'],
      [7, 'unsafe', '/abs'],
      [8, 'malformed', '{"name":"t","rows":-5}'],
    ]);
    expect(manifest.problems[0]!.message).toBe('sha256: expected a SHA-256 of 64 hex digits');
  });

  test.each([
    [
      'another format',
      { ...header, format: 'something-else', files: [] },
      'not a restore-drill manifest: "format" is "something-else"',
    ],
    ['no format', { version: 1, files: [] }, '"format" is missing'],
    ['a newer version', { ...header, version: 2, files: [] }, 'version: '],
    ['no createdAt', { format: header.format, version: 1, files: [] }, 'createdAt: '],
    ['an unknown key', { ...header, files: [], checksums: {} }, 'Unrecognized key: "checksums"'],
    ['an unknown list', { ...header, files: [], extras: [1] }, 'Unrecognized key: "extras"'],
    ['no files list', { ...header }, 'files: expected a list'],
    ['files that is not a list', { ...header, files: {} }, '"files" is not a list'],
  ])('refuses a manifest with %s', async (_name, document, message) => {
    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify(document));
    const reading = readManifest(file, 'restore-drill');
    await expect(reading).rejects.toBeInstanceOf(ManifestReadError);
    await expect(reading).rejects.toThrow(message);
  });

  test('refuses a header value that is not valid JSON, naming the line and key', async () => {
    await expect(
      parseText('{"format": "restore-drill-manifest",\n"version": 01,\n"files": []}'),
    ).rejects.toThrow('line 2: "version" is not valid JSON');
  });

  test('refuses a file that is not JSON, naming the line', async () => {
    await expect(parseText('{"format": "restore-drill-manifest",\n  oops }')).rejects.toThrow(
      'not valid JSON at line 2',
    );
  });
});

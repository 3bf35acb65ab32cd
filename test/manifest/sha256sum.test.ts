import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { runCommand } from '../../src/exec/run-command.js';
import { hashFile } from '../../src/manifest/hash-file.js';
import { ManifestReadError, readManifest } from '../../src/manifest/index.js';
import { parseSha256sumLine, parseSha256sumManifest } from '../../src/manifest/sha256sum.js';
import { fileNameOf } from '../../src/model/file-name.js';

/** Names sha256sum must escape (newline, backslash, carriage return) and ones it must not. */
const FILES: Record<string, string> = {
  'plain.txt': 'plain\n',
  'with space.txt': 'spaced out\n',
  'sub/dir/deep.bin': 'deep\0binary\xff',
  'new\nline.txt': 'a newline in the name\n',
  'back\\slash.txt': 'a backslash in the name\n',
  'car\rriage.txt': 'a carriage return in the name\n',
  'café ünïcode.txt': 'accents\n',
  ' leading space.txt': 'leading space\n',
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'restore-drill-sha256sum-'));
  for (const [path, content] of Object.entries(FILES)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content, 'latin1');
  }
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the real sha256sum in `dir` over the given names and writes its output as a manifest. */
async function sha256sum(args: string[], names: string[]): Promise<string> {
  const result = await runCommand('sha256sum', [...args, '--', ...names], {
    cwd: dir,
    keepStdout: true,
  });
  expect(result.exitCode).toBe(0);
  return `${result.stdout}\n`;
}

async function expectedHashes(): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  for (const path of Object.keys(FILES))
    map.set(fileNameOf(path), (await hashFile(join(dir, path))).digests.sha256!);
  return map;
}

async function parse(text: string) {
  const file = join(dir, 'SHA256SUMS');
  await writeFile(file, text);
  return parseSha256sumManifest(file);
}

function hashes(manifest: Awaited<ReturnType<typeof parse>>): Map<string, string | undefined> {
  return new Map([...manifest.files].map(([path, entry]) => [path, entry.sha256]));
}

describe('sha256sum manifests', () => {
  test('reads text-mode output, unescaping names with newlines, backslashes and carriage returns', async () => {
    const output = await sha256sum([], Object.keys(FILES));
    // sha256sum really escaped them: the proof that this test exercises the escaped form.
    expect(output).toMatch(/^\\[0-9a-f]{64} {2}new\\nline\.txt$/m);
    expect(output).toMatch(/^\\[0-9a-f]{64} {2}back\\\\slash\.txt$/m);
    expect(output).toMatch(/^\\[0-9a-f]{64} {2}car\\rriage\.txt$/m);
    const manifest = await parse(output);
    expect(manifest.problems).toEqual([]);
    expect(hashes(manifest)).toEqual(await expectedHashes());
  });

  test('reads binary-mode (-b) output with its * marker', async () => {
    const output = await sha256sum(['-b'], Object.keys(FILES));
    expect(output).toMatch(/^[0-9a-f]{64} \*plain\.txt$/m);
    const manifest = await parse(output);
    expect(manifest.problems).toEqual([]);
    expect(hashes(manifest)).toEqual(await expectedHashes());
  });

  test('reads BSD-style --tag output', async () => {
    const output = await sha256sum(['--tag'], Object.keys(FILES));
    expect(output).toMatch(/^SHA256 \(plain\.txt\) = [0-9a-f]{64}$/m);
    const manifest = await parse(output);
    expect(manifest.problems).toEqual([]);
    expect(hashes(manifest)).toEqual(await expectedHashes());
  });

  test('normalises a leading ./ away and keeps the line number of each entry', async () => {
    const output = await sha256sum([], ['./plain.txt', './sub/dir/deep.bin']);
    const manifest = await parse(output);
    expect([...manifest.files.keys()]).toEqual(['plain.txt', 'sub/dir/deep.bin']);
    expect(manifest.files.get('sub/dir/deep.bin')?.line).toBe(2);
  });

  test('matches names that are not UTF-8 byte for byte, as sha256sum writes them raw', async () => {
    const odd = [
      Buffer.from('bad\xff\xfe.txt', 'latin1'),
      Buffer.from('latin1 caf\xe9.txt', 'latin1'),
      Buffer.from('esc\x1b[31m tab\t.txt', 'latin1'),
      Buffer.from('nl\n\xff.txt', 'latin1'),
    ];
    for (const name of odd)
      await writeFile(Buffer.concat([Buffer.from(`${dir}/`), name]), name.toString('hex'));
    const result = await runCommand(
      'sh',
      ['-c', 'sha256sum -- * > SHA256SUMS.odd 2>/dev/null; true'],
      { cwd: dir },
    );
    expect(result.exitCode).toBe(0);
    const manifest = await parseSha256sumManifest(join(dir, 'SHA256SUMS.odd'));
    expect(manifest.problems).toEqual([]);
    for (const name of odd) {
      const expected = (await hashFile(Buffer.concat([Buffer.from(`${dir}/`), name]))).digests
        .sha256;
      expect(manifest.files.get(fileNameOf(name))?.sha256, fileNameOf(name)).toBe(expected);
    }
    expect(manifest.files.has('bad\\xff\\xfe.txt')).toBe(true);
    expect(manifest.files.has('nl\\n\\xff.txt')).toBe(true);
  });

  test('tolerates CRLF line endings and blank lines', async () => {
    const output = await sha256sum([], ['plain.txt', 'with space.txt']);
    const crlf = `\r\n${output.trimEnd().split('\n').join('\r\n\r\n')}\r\n\r\n`;
    const manifest = await parse(crlf);
    expect(manifest.problems).toEqual([]);
    expect([...manifest.files.keys()]).toEqual(['plain.txt', 'with space.txt']);
    expect(manifest.files.get('with space.txt')?.line).toBe(4);
  });

  test('ignores a UTF-8 byte order mark before the first line (Windows editors, PowerShell), and only there', async () => {
    const output = await sha256sum([], ['plain.txt', 'with space.txt']);
    const manifest = await parse(`\uFEFF${output}`);
    expect(manifest.problems).toEqual([]);
    expect([...manifest.files.keys()]).toEqual(['plain.txt', 'with space.txt']);
    const [first, second] = output.trimEnd().split('\n');
    const later = await parse(`${first}\n\uFEFF${second}\n`);
    expect(later.problems.map((problem) => problem.line)).toEqual([2]);
  });

  test('keeps a lone carriage return inside a name that older sha256sum versions did not escape', async () => {
    const manifest = await parse(
      `${'1'.repeat(64)}  car\rriage.txt\n${'2'.repeat(64)}  next.txt\r\n`,
    );
    expect([...manifest.files.keys()]).toEqual(['car\\rriage.txt', 'next.txt']);
  });

  test('reports each malformed line by number and keeps reading', async () => {
    const good = await sha256sum([], ['plain.txt', 'with space.txt']);
    const [first, second] = good.trimEnd().split('\n');
    const text = [
      first,
      'this is not a checksum line',
      `${'a'.repeat(63)}  short.txt`,
      `${'b'.repeat(32)}  md5.txt`,
      `${'c'.repeat(64)}`,
      `\\${'d'.repeat(64)}  bad\\tescape`,
      second,
    ].join('\n');
    const manifest = await parse(`${text}\n`);
    expect([...manifest.files.keys()]).toEqual(['plain.txt', 'with space.txt']);
    expect(manifest.problems.map((p) => [p.line, p.problem])).toEqual([
      [2, 'malformed'],
      [3, 'malformed'],
      [4, 'malformed'],
      [5, 'malformed'],
      [6, 'malformed'],
    ]);
    expect(manifest.problems[1]!.message).toContain('64 hex digits, got 63');
    expect(manifest.problems[2]!.message).toContain('MD5');
    expect(manifest.problems[3]!.message).toBe('no file name after the checksum');
    expect(manifest.problems[4]!.message).toContain('unknown escape');
    expect(manifest.problemsTotal).toBe(5);
  });

  test('reports absolute paths and .. components as unsafe, naming the entry and line', async () => {
    const hash = 'e'.repeat(64);
    const manifest = await parse(
      [
        `${hash}  /etc/passwd`,
        `${hash}  ../evil.txt`,
        `${hash}  a/../../b`,
        `${hash}  fine.txt`,
      ].join('\n'),
    );
    expect([...manifest.files.keys()]).toEqual(['fine.txt']);
    expect(manifest.problems).toEqual([
      {
        line: 1,
        problem: 'unsafe',
        item: '/etc/passwd',
        message: expect.stringContaining('absolute path'),
      },
      { line: 2, problem: 'unsafe', item: '../evil.txt', message: expect.stringContaining("'..'") },
      { line: 3, problem: 'unsafe', item: 'a/../../b', message: expect.stringContaining("'..'") },
    ]);
  });

  test('reports a file listed twice with different checksums, but not an exact repeat', async () => {
    const manifest = await parse(
      [`${'1'.repeat(64)}  a.txt`, `${'1'.repeat(64)}  ./a.txt`, `${'2'.repeat(64)}  a.txt`].join(
        '\n',
      ),
    );
    expect(manifest.files.get('a.txt')?.sha256).toBe('1'.repeat(64));
    expect(manifest.problems).toEqual([
      {
        line: 3,
        problem: 'duplicate',
        item: 'a.txt',
        message: expect.stringContaining('first at line 1'),
      },
    ]);
  });

  test('lower-cases upper-case hex digests', async () => {
    const manifest = await parse(`${'AB'.repeat(32)}  a.txt\n`);
    expect(manifest.files.get('a.txt')?.sha256).toBe('ab'.repeat(32));
  });

  test('says a JSON file is probably the wrong format', async () => {
    const manifest = await parse('{ "PostgreSQL-Backup-Manifest-Version": 1,\n');
    expect(manifest.problems[0]!.message).toContain('looks like JSON');
  });

  test('skips a line longer than 64 KiB as malformed without holding it, then carries on', async () => {
    const manifest = await parse(`${'f'.repeat(200_000)}\n${'1'.repeat(64)}  after.txt\n`);
    expect(manifest.problems).toEqual([
      {
        line: 1,
        problem: 'malformed',
        item: expect.any(String),
        message: 'line longer than 64 KiB',
      },
    ]);
    expect(manifest.problems[0]!.item.length).toBeLessThan(100);
    expect([...manifest.files.keys()]).toEqual(['after.txt']);
  });

  test('reads a last line without a newline', async () => {
    const manifest = await parse(`${'1'.repeat(64)}  a.txt\n${'2'.repeat(64)}  b.txt`);
    expect([...manifest.files.keys()]).toEqual(['a.txt', 'b.txt']);
  });

  test('fails to read a manifest that does not exist with a one-line reason', async () => {
    const reading = readManifest(join(dir, 'absent.sha256'), 'sha256sum');
    await expect(reading).rejects.toBeInstanceOf(ManifestReadError);
    await expect(reading).rejects.toThrow('cannot read it: not found');
  });
});

describe('parseSha256sumLine', () => {
  const hash = '0123456789abcdef'.repeat(4);

  test('accepts the single-space form GNU sha256sum -c also accepts', () => {
    expect(parseSha256sumLine(`${hash} a.txt`)).toEqual({
      kind: 'entry',
      path: 'a.txt',
      sha256: hash,
    });
  });

  test('keeps spaces inside and at the start of a name', () => {
    expect(parseSha256sumLine(`${hash}   two  spaces `)).toEqual({
      kind: 'entry',
      path: ' two  spaces ',
      sha256: hash,
    });
  });

  test('keeps a backslash literally when the line is not escaped (escaped form: doubled)', () => {
    expect(parseSha256sumLine(`${hash}  a\\nb`)).toEqual({
      kind: 'entry',
      path: 'a\\\\nb',
      sha256: hash,
    });
  });

  test('treats a line of spaces as blank', () => {
    expect(parseSha256sumLine('   ')).toEqual({ kind: 'blank' });
  });

  test('refuses a tagged line for another algorithm', () => {
    expect(parseSha256sumLine(`MD5 (a.txt) = ${'0'.repeat(32)}`)).toMatchObject({
      kind: 'malformed',
    });
  });
});

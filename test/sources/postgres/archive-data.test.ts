import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findArchiveDataDamage } from '../../../src/sources/postgres/archive-data.js';
import type { ArchiveToc } from '../../../src/sources/postgres/pg-tools.js';
import { SourceError } from '../../../src/model/restore.js';
import { run } from '../../helpers/artefacts.js';
import { tempDir } from '../../helpers/temp.js';

const toc: ArchiveToc = {
  dbname: null,
  pgDumpMajor: null,
  entries: [],
  tableData: [{ name: 'public.t', line: '3352; 0 16390 TABLE DATA public t owner' }],
};

/** A tar (GNU tar, ustar headers) of toc.dat and 3352.dat holding `data`. */
async function tarOf(data: string): Promise<string> {
  const dir = await tempDir();
  await writeFile(path.join(dir, 'toc.dat'), 'PGDMP');
  await writeFile(path.join(dir, '3352.dat'), data);
  const file = path.join(dir, 'dump.tar');
  await run('tar', ['--format=ustar', '-cf', file, '-C', dir, 'toc.dat', '3352.dat']);
  return file;
}

describe('table data of directory and tar dumps', () => {
  it('reads a member size written in base-256, as tar writers do from 8 GiB', async () => {
    const file = await tarOf('1\tone\n\\.\n\n\n');
    const bytes = await readFile(file);
    const header = 1024; // toc.dat's header and one block of its data come first
    expect(bytes.toString('latin1', header, header + 8)).toBe('3352.dat');
    const size = Number.parseInt(bytes.toString('latin1', header + 124, header + 135), 8);
    bytes.fill(0, header + 124, header + 136);
    bytes[header + 124] = 0x80;
    bytes.writeUIntBE(size, header + 130, 6);
    let sum = 0;
    for (let index = 0; index < 512; index++)
      sum += index >= 148 && index < 156 ? 0x20 : bytes[header + index]!;
    bytes.write(`${sum.toString(8).padStart(6, '0')}\0 `, header + 148, 'latin1');
    await writeFile(file, bytes);
    expect(await findArchiveDataDamage(file, 'tar', toc)).toBeNull();
    // The same header claiming one byte more than the data holds: the end line is no longer last.
    bytes.writeUIntBE(size + 1, header + 130, 6);
    sum += 1;
    bytes.write(`${sum.toString(8).padStart(6, '0')}\0 `, header + 148, 'latin1');
    await writeFile(file, bytes);
    expect(await findArchiveDataDamage(file, 'tar', toc)).toMatchObject({
      detail:
        'member 3352.dat ends without the \\. line that closes its COPY data: the data was cut short',
      entry: 'table public.t',
    });
  });

  it('takes COPY data ending with its end line, empty COPY data, and INSERT statements', async () => {
    for (const data of [
      '1\tone\n2\ttwo\n\\.\n\n\n',
      '\\.\n\n\n',
      '',
      '\n\n',
      'INSERT INTO public.t VALUES (1);\n',
    ])
      expect(
        await findArchiveDataDamage(await tarOf(data), 'tar', toc),
        JSON.stringify(data),
      ).toBeNull();
    for (const data of ['1\tone\n', '1\tone\n2\ttw', '1\tone\n\\.x\n'])
      expect(
        await findArchiveDataDamage(await tarOf(data), 'tar', toc),
        JSON.stringify(data),
      ).not.toBeNull();
  });

  it('leaves a table without a data file (compressed, or missing) to pg_restore', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, '3352.dat.gz'), 'not judged here');
    expect(await findArchiveDataDamage(dir, 'directory', toc)).toBeNull();
    await writeFile(path.join(dir, '3352.dat'), '1\tone\n');
    expect(await findArchiveDataDamage(dir, 'directory', toc)).toEqual({
      detail:
        '3352.dat ends without the \\. line that closes its COPY data: the data was cut short',
      entry: 'table public.t',
      offset: null,
    });
  });

  it('names the file it cannot read, as an error of the drill rather than damage', async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, '3352.dat'));
    const inDirectory = await findArchiveDataDamage(dir, 'directory', toc).catch((e: unknown) => e);
    expect(inDirectory).toBeInstanceOf(SourceError);
    expect((inDirectory as SourceError).message).toBe(
      `cannot read ${path.join(dir, '3352.dat')} to check its table data: is a directory`,
    );
    const missing = path.join(dir, 'gone.tar');
    const asTar = await findArchiveDataDamage(missing, 'tar', toc).catch((e: unknown) => e);
    expect(asTar).toBeInstanceOf(SourceError);
    expect((asTar as SourceError).message).toBe(
      `cannot read ${missing} to check its table data: no such file or directory`,
    );
  });
});

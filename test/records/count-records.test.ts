import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { countRecords, recognise, RecordReadError } from '../../src/records/count-records.js';
import { tempDir } from '../helpers/temp.js';

let dir: string;

beforeAll(async () => {
  dir = await tempDir('restore-drill-records-');
});

async function file(name: string, content: string | Buffer): Promise<string> {
  const target = path.join(dir, name);
  await writeFile(target, content);
  return target;
}

describe('countRecords', () => {
  it('counts CSV rows without the header, a quoted newline inside a row and a BOM included', async () => {
    const csv = await file(
      'orders.csv',
      '\uFEFFid,note,amount\r\n1,"two\nlines, and a comma",3.5\r\n2,plain,4\r\n\r\n3,"say ""hi""",5\r\n',
    );
    expect(await countRecords(csv, 'csv')).toBe(3);
    expect(await countRecords(csv, 'csv', { header: false })).toBe(4);
  });

  it('counts TSV rows, where commas are data', async () => {
    const tsv = await file('people.tsv', 'name\tcity\nAda, Countess\tLondon\nAlan\tWilmslow\n');
    expect(await countRecords(tsv, 'tsv')).toBe(2);
  });

  it('counts a large CSV streaming, the same as its line count', async () => {
    const lines = ['id,value'];
    for (let i = 0; i < 50_000; i++) lines.push(`${i},"v${i}"`);
    const csv = await file('big.csv', `${lines.join('\n')}\n`);
    expect(await countRecords(csv, 'csv')).toBe(50_000);
  });

  it('refuses a CSV with an unclosed quote, naming the format', async () => {
    const csv = await file('broken.csv', 'id,note\n1,"never closed\n2,x\n');
    await expect(countRecords(csv, 'csv')).rejects.toThrow(RecordReadError);
    await expect(countRecords(csv, 'csv')).rejects.toThrow(
      'not valid CSV: a quote is never closed (the file ends inside a quoted field, at line 3)',
    );
  });

  it('counts JSON Lines records, skipping blank lines', async () => {
    const jsonl = await file('events.jsonl', '{"a":1}\n\n{"a":2}\r\n[3]\n"four"');
    expect(await countRecords(jsonl, 'jsonl')).toBe(4);
  });

  it('refuses a JSON Lines file whose line is cut, naming the line', async () => {
    const jsonl = await file('cut.jsonl', '{"a":1}\n{"a":2}\n{"a":');
    await expect(countRecords(jsonl, 'jsonl')).rejects.toThrow(
      'not valid JSON Lines: line 3 is not JSON',
    );
  });

  it('counts the rows of every table of a SQLite database made here, by name', async () => {
    const target = path.join(dir, 'app.sqlite');
    const db = new Database(target);
    db.exec(
      'create table users (id integer primary key, name text); create table "odd ""name""" (x); create index users_name on users(name)',
    );
    const insert = db.prepare('insert into users (name) values (?)');
    db.transaction(() => {
      for (let i = 0; i < 1234; i++) insert.run(`user ${i}`);
    })();
    db.prepare('insert into "odd ""name""" values (1)').run();
    db.close();
    expect(await countRecords(target, 'sqlite')).toEqual({ 'odd "name"': 1, users: 1234 });
  });

  it('refuses a file that is not a SQLite database', async () => {
    const target = await file('fake.sqlite', 'just text, long enough to not be a header at all');
    await expect(countRecords(target, 'sqlite')).rejects.toThrow(
      /^not a (readable )?SQLite database: /,
    );
  });
});

describe('recognise', () => {
  it('knows formats by name, and a .db file only by its SQLite header', async () => {
    expect(await recognise(await file('a.CSV', ''))).toBe('csv');
    expect(await recognise(await file('a.tsv', ''))).toBe('tsv');
    expect(await recognise(await file('a.ndjson', ''))).toBe('jsonl');
    expect(await recognise(await file('a.txt', ''))).toBeNull();
    expect(await recognise(await file('other.db', 'Berkeley DB, say'))).toBeNull();
    const real = path.join(dir, 'real.db');
    const db = new Database(real);
    db.exec('create table t (x)');
    db.close();
    expect(await recognise(real)).toBe('sqlite');
  });
});

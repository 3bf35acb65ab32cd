import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { inspectPlainDump } from '../../../src/sources/postgres/dump-format.js';
import {
  COPY_BATCH_CHARS,
  PlainDumpError,
  readPlainDump,
  utf8Guard,
  type PlainDumpEvent,
} from '../../../src/sources/postgres/plain-sql.js';
import { tempDir } from '../../helpers/temp.js';

let dir: string;

async function events(text: string): Promise<PlainDumpEvent[]> {
  const file = path.join(dir, `${Math.random().toString(36).slice(2)}.sql`);
  await writeFile(file, text);
  const out: PlainDumpEvent[] = [];
  for await (const event of readPlainDump(file)) out.push(event);
  return out;
}

async function statements(text: string): Promise<string[]> {
  return (await events(text))
    .filter((e) => e.kind === 'statement')
    .map((e) => (e as { text: string }).text);
}

beforeAll(async () => {
  dir = await tempDir('restore-drill-plain-sql-');
});

describe('readPlainDump', () => {
  it('splits statements at semicolons outside quotes, comments and dollar quotes', async () => {
    const sql = [
      "INSERT INTO t VALUES ('a;b', 'it''s; fine');",
      'CREATE FUNCTION f() RETURNS int AS $body$',
      'BEGIN',
      '  RETURN 1; -- not the end',
      'END;',
      '$body$ LANGUAGE plpgsql;',
      '/* a; /* nested; */ comment; */ SELECT 1;',
      'SELECT "semi;colon" FROM x; SELECT $$;$$;',
      "SELECT E'back\\'slash;';",
      'SELECT a$b FROM c;',
    ].join('\n');
    expect(await statements(sql)).toEqual([
      "INSERT INTO t VALUES ('a;b', 'it''s; fine');",
      'CREATE FUNCTION f() RETURNS int AS $body$\nBEGIN\n  RETURN 1; -- not the end\nEND;\n$body$ LANGUAGE plpgsql;',
      '/* a; /* nested; */ comment; */ SELECT 1;',
      'SELECT "semi;colon" FROM x;',
      'SELECT $$;$$;',
      "SELECT E'back\\'slash;';",
      'SELECT a$b FROM c;',
    ]);
  });

  it('reports the line each statement starts on, after its comments', async () => {
    const found = await events(
      '--\n-- Name: t\n--\n\nCREATE TABLE t (\n  id int\n);\n\nSELECT 1;\n',
    );
    expect(found.map((e) => [e.kind, 'line' in e ? e.line : null])).toEqual([
      ['statement', 5],
      ['statement', 9],
    ]);
  });

  it('hands over meta-commands between statements, not inside them', async () => {
    const found = await events(
      "\\restrict KEY1\nSELECT '\n\\not meta';\n\\connect other\n\\unrestrict KEY1\n",
    );
    expect(found).toEqual([
      { kind: 'meta', command: 'restrict', argument: 'KEY1', line: 1 },
      { kind: 'statement', text: "SELECT '\n\\not meta';", line: 2 },
      { kind: 'meta', command: 'connect', argument: 'other', line: 4 },
      { kind: 'meta', command: 'unrestrict', argument: 'KEY1', line: 5 },
    ]);
  });

  it('passes COPY data through up to \\. and goes on with statements', async () => {
    const found = await events('COPY public.t (a, b) FROM stdin;\n1\tx\n2\t\\N\n\\.\nSELECT 1;\n');
    expect(found).toEqual([
      { kind: 'copy-start', text: 'COPY public.t (a, b) FROM stdin;', line: 1 },
      { kind: 'copy-data', data: '1\tx\n2\t\\N\n' },
      { kind: 'copy-end', line: 4 },
      { kind: 'statement', text: 'SELECT 1;', line: 5 },
    ]);
  });

  it('hands large COPY data over in bounded batches', async () => {
    const line = `${'x'.repeat(1023)}\n`;
    const count = Math.ceil((COPY_BATCH_CHARS * 2.5) / line.length);
    const found = await events(`COPY t FROM stdin;\n${line.repeat(count)}\\.\n`);
    const batches = found.filter((e) => e.kind === 'copy-data') as { data: string }[];
    expect(batches.length).toBe(3);
    expect(batches.every((b) => b.data.length <= COPY_BATCH_CHARS + line.length)).toBe(true);
    expect(batches.reduce((sum, b) => sum + b.data.length, 0)).toBe(count * line.length);
  });

  it('says a dump cut inside COPY data or inside a statement is truncated, with the line', async () => {
    await expect(events('COPY t FROM stdin;\n1\n2\n')).rejects.toThrow(PlainDumpError);
    await expect(events('COPY t FROM stdin;\n1\n2\n')).rejects.toThrow(
      'the file ends inside COPY data (no \\. line): the dump is truncated',
    );
    await expect(events('SELECT 1;\nCREATE TABLE t (\n  id int\n')).rejects.toThrow(
      'the file ends inside a statement that starts at line 2: the dump is truncated',
    );
  });
});

describe('inspectPlainDump', () => {
  it('finds the database commands of a --create --clean dump', async () => {
    const file = path.join(dir, 'create.sql');
    await writeFile(
      file,
      '\\restrict K\nDROP DATABASE "Shop";\nCREATE DATABASE "Shop" WITH TEMPLATE = template0;\n\\connect "Shop"\nCOPY t FROM stdin;\n\\.\n',
    );
    const head = await inspectPlainDump(file);
    expect(head.leavesTarget).toEqual({ line: 2, what: 'DROP DATABASE' });
    expect(head.databases).toEqual(['Shop', 'Shop', 'Shop']);
  });

  it('finds a \\connect hidden after the data', async () => {
    const file = path.join(dir, 'late.sql');
    await writeFile(
      file,
      'CREATE TABLE t (id int);\nCOPY t FROM stdin;\n\\connect not-data\n\\.\nSELECT 1;\n\\connect production\nDROP TABLE t;\n',
    );
    const head = await inspectPlainDump(file);
    expect(head.leavesTarget).toEqual({ line: 6, what: '\\connect production' });
    expect(head.databases).toEqual(['production']);
  });

  it('finds nothing in an ordinary dump', async () => {
    const file = path.join(dir, 'plain.sql');
    await writeFile(
      file,
      '\\restrict K\nSET search_path = public;\nCREATE TABLE t (id int);\nCOPY t FROM stdin;\n1\n\\.\n\\unrestrict K\n',
    );
    expect(await inspectPlainDump(file)).toEqual({
      databases: [],
      leavesTarget: null,
      pgDumpMajor: null,
    });
  });

  it('reads the pg_dump version from the header leading the first statement, after \\restrict', async () => {
    const file = path.join(dir, 'headed.sql');
    await writeFile(
      file,
      [
        '--',
        '-- PostgreSQL database dump',
        '--',
        '',
        '\\restrict K',
        '',
        '-- Dumped from database version 16.4',
        '-- Dumped by pg_dump version 17.6 (Debian 17.6-1)',
        '',
        "SET client_encoding = 'UTF8';",
        '-- Dumped by pg_dump version 9',
        'CREATE TABLE t (id int);',
        '',
        '--',
        '-- PostgreSQL database dump complete',
        '--',
        '',
        '\\unrestrict K',
        '',
      ].join('\n'),
    );
    expect((await inspectPlainDump(file)).pgDumpMajor).toBe(17);
  });

  describe("a dump cut at a statement boundary (pg_dump's closing comment missing)", () => {
    const opening = ['--', '-- PostgreSQL database dump', '--', '', '\\restrict K', ''];
    const closing = ['--', '-- PostgreSQL database dump complete', '--', '', '\\unrestrict K', ''];
    const body = ['CREATE TABLE t (id int);', 'COPY t (id) FROM stdin;', '1', '\\.', ''];

    /** inspectPlainDump's answer for the lines: null when it accepts them, else the error. */
    async function inspected(name: string, lines: string[]): Promise<PlainDumpError | null> {
      const file = path.join(dir, name);
      await writeFile(file, lines.join('\n'));
      return inspectPlainDump(file).then(
        () => null,
        (error: unknown) => error as PlainDumpError,
      );
    }

    it('accepts a dump that closes, and hand-written SQL that never opened', async () => {
      expect(await inspected('closed.sql', [...opening, ...body, ...closing])).toBeNull();
      expect(
        await inspected('no-unrestrict.sql', [...opening, ...body, ...closing.slice(0, 3)]),
      ).toBeNull();
      expect(await inspected('hand.sql', body)).toBeNull();
    });

    it('fails, as damage naming the last line, a dump with no closing comment', async () => {
      const error = await inspected('cut.sql', [...opening, ...body]);
      expect(error).toBeInstanceOf(PlainDumpError);
      expect(error).toMatchObject({
        damaged: true,
        line: 10,
        message:
          "the dump ends after this line, without the '-- PostgreSQL database dump complete' comment pg_dump writes last: it was cut short",
      });
    });

    it("fails a dump whose closing comment is followed by more statements (pg_dumpall's inner dumps)", async () => {
      const cluster = ['--', '-- PostgreSQL database cluster dump', '--', ''];
      const inner = [...opening, ...body, ...closing];
      const error = await inspected('cluster-cut.sql', [...cluster, 'SET x = 1;', ...inner]);
      expect(error?.message).toBe(
        "the dump ends after this line, without the '-- PostgreSQL database cluster dump complete' comment pg_dumpall writes last: it was cut short",
      );
      expect(
        await inspected('cluster.sql', [
          ...cluster,
          ...inner,
          '--',
          '-- PostgreSQL database cluster dump complete',
          '--',
        ]),
      ).toBeNull();
      const reopened = await inspected('more.sql', [
        ...opening,
        ...body,
        ...closing,
        'DROP TABLE t;',
      ]);
      expect(reopened?.line).toBe(18);
    });
  });
});

describe('utf8Guard', () => {
  /** What the guard passes on for `chunks`, or the error it stops with. */
  async function guarded(chunks: Buffer[]): Promise<Buffer | PlainDumpError> {
    const out: Buffer[] = [];
    try {
      for await (const chunk of Readable.from(chunks).pipe(utf8Guard())) out.push(chunk as Buffer);
      return Buffer.concat(out);
    } catch (error) {
      return error as PlainDumpError;
    }
  }
  const head = Buffer.from("SET client_encoding = 'UTF8';\nCOPY t FROM stdin;\n");

  it('passes UTF-8 through unchanged, a character split across chunks included', async () => {
    const euro = Buffer.from('€\n'); // e2 82 ac
    const chunks = [
      head,
      Buffer.from('a'),
      euro.subarray(0, 1),
      euro.subarray(1, 2),
      euro.subarray(2),
    ];
    expect((await guarded(chunks)).toString()).toBe(`${head.toString()}a€\n`);
  });

  it('stops at the first byte that is not UTF-8, naming its offset and line', async () => {
    const bad = Buffer.concat([head, Buffer.from('1\n2\n'), Buffer.from([0x33, 0xff, 0x0a])]);
    const error = await guarded([bad.subarray(0, 10), bad.subarray(10)]);
    expect(error).toBeInstanceOf(PlainDumpError);
    expect((error as PlainDumpError).message).toBe(
      `byte ${head.length + 5} (line 5) is not UTF-8, the dump's declared encoding: the dump is damaged`,
    );
    expect((error as PlainDumpError).damaged).toBe(true);
    expect((error as PlainDumpError).line).toBe(5);
  });

  it('counts the lines before the encoding is declared when naming a bad byte', async () => {
    const comments = Buffer.from('--\n-- PostgreSQL database dump\n--\n');
    const bad = Buffer.concat([head, Buffer.from([0xff, 0x0a])]);
    const error = await guarded([comments, bad]);
    expect((error as PlainDumpError).line).toBe(6);
    expect((error as Error).message).toBe(
      `byte ${comments.length + head.length} (line 6) is not UTF-8, the dump's declared encoding: the dump is damaged`,
    );
  });

  it('refuses an overlong encoding and a file that ends inside a character', async () => {
    const overlong = await guarded([head, Buffer.from([0xc0, 0xaf])]);
    expect((overlong as Error).message).toMatch(/^byte \d+ \(line 3\) is not UTF-8/);
    const cut = await guarded([head, Buffer.from([0xe2, 0x82])]);
    expect((cut as Error).message).toBe(
      `the file ends inside a UTF-8 character at byte ${head.length}: the dump is damaged`,
    );
  });

  it('passes a dump in another encoding as it is', async () => {
    const latin1 = Buffer.concat([
      Buffer.from("SET client_encoding = 'LATIN1';\n"),
      Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]),
    ]);
    expect(await guarded([latin1])).toEqual(latin1);
  });
});

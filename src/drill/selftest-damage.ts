import { open, readlink, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { hashFile } from '../manifest/hash-file.js';
import { fsPath } from '../model/file-name.js';
import type { RestoredFile } from '../model/restore.js';
import type { RestoreOutcome } from '../sources/restore-source.js';
import type { DamageSession } from '../sources/restored-database.js';
import { listTables, quoteIdent } from '../sources/postgres/table-counts.js';

/** The kinds of damage a selftest makes, in the order it makes them. */
export const DAMAGE_KINDS = [
  'flipped-byte',
  'truncated-file',
  'deleted-file',
  'added-file',
  'changed-link-target',
  'deleted-rows',
  'updated-value',
] as const;
export type DamageKind = (typeof DAMAGE_KINDS)[number];

/** How a finding names each kind: "this drill would not notice <label>". */
export const DAMAGE_LABELS: Readonly<Record<DamageKind, string>> = {
  'flipped-byte': 'a flipped byte',
  'truncated-file': 'a truncated file',
  'deleted-file': 'a deleted file',
  'added-file': 'an added file',
  'changed-link-target': 'a changed link target',
  'deleted-rows': 'deleted rows',
  'updated-value': 'an updated value',
};

/** A damage made: what it touched, and the outcome a restore of the damaged backup would have given. */
export interface AppliedDamage {
  kind: DamageKind;
  /** The file, link or table damaged, one line. */
  target: string;
  outcome: RestoreOutcome;
  /** Undoes a damage made in place (a database); absent for damage to a copy. */
  undo?: () => Promise<void>;
}

/** Share of a file's records or a table's rows a `deleted-rows` damage removes (at least one). */
export const DELETED_ROWS_SHARE = 0.1;

/** Files whose lines are records: a CSV/TSV has a header line, JSON Lines has none. */
const RECORD_FILES = /\.(csv|tsv|jsonl|ndjson)$/i;
const HEADER_FILES = /\.(csv|tsv)$/i;
/** How far into a file `updated-value` looks for its first record. */
const FIRST_RECORD_BYTES = 1024 * 1024;

/**
 * The files a file damage may touch: regular, non-empty, not the manifest the checks
 * compare against (damaging it would test the manifest, not the backup), in path order.
 */
export function damageableFiles(
  outcome: RestoreOutcome,
  manifestsInSet: ReadonlySet<string>,
): RestoredFile[] {
  return outcome.files
    .filter((file) => file.size > 0 && !manifestsInSet.has(file.path))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The file kinds of damage that apply to a restore: a file to damage, a link to retarget, a record file. */
export function applicableFileDamages(
  outcome: RestoreOutcome,
  manifestsInSet: ReadonlySet<string>,
): DamageKind[] {
  if (outcome.database !== undefined) return [];
  const files = damageableFiles(outcome, manifestsInSet);
  const kinds: DamageKind[] = [];
  if (files.length > 0) kinds.push('flipped-byte', 'truncated-file', 'deleted-file');
  kinds.push('added-file');
  if ((outcome.links ?? []).length > 0) kinds.push('changed-link-target');
  if (files.some((file) => RECORD_FILES.test(file.path)))
    kinds.push('deleted-rows', 'updated-value');
  return kinds;
}

/**
 * Damages `copyDir` (a copy of the restore, whose outcome is `copy`) in the way `kind`
 * names, and returns the outcome a restore of a backup damaged that way would have given.
 * Null when the restore holds nothing this kind can damage (a record file of one line).
 */
export async function damageCopy(
  kind: DamageKind,
  copyDir: string,
  copy: RestoreOutcome,
  manifestsInSet: ReadonlySet<string>,
): Promise<AppliedDamage | null> {
  const files = damageableFiles(copy, manifestsInSet);
  const [first] = files;
  const at = (file: RestoredFile) => fsPath(copyDir, file.path);
  switch (kind) {
    case 'flipped-byte': {
      if (!first) return null;
      const offset = Math.floor(first.size / 2);
      const handle = await open(at(first), 'r+');
      try {
        const byte = Buffer.alloc(1);
        await handle.read(byte, 0, 1, offset);
        byte[0] = (byte[0] ?? 0) ^ 0xff;
        await handle.write(byte, 0, 1, offset);
      } finally {
        await handle.close();
      }
      return rehashed(kind, `${first.path} (byte ${offset})`, copyDir, copy, first);
    }
    case 'truncated-file': {
      if (!first) return null;
      await truncate(at(first), Math.floor(first.size / 2));
      return rehashed(
        kind,
        `${first.path} (to ${Math.floor(first.size / 2)} bytes)`,
        copyDir,
        copy,
        first,
      );
    }
    case 'deleted-file': {
      if (!first) return null;
      await rm(at(first));
      return {
        kind,
        target: first.path,
        outcome: { ...copy, files: copy.files.filter((file) => file !== first) },
      };
    }
    case 'added-file': {
      const taken = new Set(copy.files.map((file) => file.path));
      let name = 'selftest-added-file.txt';
      for (let n = 2; taken.has(name); n += 1) name = `selftest-added-file-${n}.txt`;
      const content = Buffer.from('added by restore-drill selftest\n');
      await writeFile(fsPath(copyDir, name), content, { flag: 'wx' });
      const { digests } = await hashFile(fsPath(copyDir, name));
      return {
        kind,
        target: name,
        outcome: {
          ...copy,
          files: [
            ...copy.files,
            { path: name, size: content.length, sha256: digests.sha256 ?? '' },
          ],
        },
      };
    }
    case 'changed-link-target': {
      const [link] = copy.links ?? [];
      if (!link) return null;
      const where = fsPath(copyDir, link.path);
      const target = `${await readlink(where)}.selftest-changed`;
      await rm(where);
      await symlink(target, where);
      return {
        kind,
        target: `${link.path} (-> ${target})`,
        outcome: {
          ...copy,
          links: (copy.links ?? []).map((each) => (each === link ? { ...each, target } : each)),
        },
      };
    }
    case 'deleted-rows': {
      const file = files.find((each) => RECORD_FILES.test(each.path));
      if (!file) return null;
      const removed = await dropLastRecords(at(file), HEADER_FILES.test(file.path));
      if (removed === null) return null;
      return rehashed(kind, `${file.path} (last ${removed} of its lines)`, copyDir, copy, file);
    }
    case 'updated-value': {
      const file = files.find((each) => RECORD_FILES.test(each.path));
      if (!file) return null;
      const changed = await changeFirstRecord(at(file), HEADER_FILES.test(file.path));
      if (changed === null) return null;
      return rehashed(kind, `${file.path} (${changed})`, copyDir, copy, file);
    }
  }
}

/** The outcome with one file's size and hash as they now are on disk. */
async function rehashed(
  kind: DamageKind,
  target: string,
  copyDir: string,
  copy: RestoreOutcome,
  file: RestoredFile,
): Promise<AppliedDamage> {
  const { size, digests } = await hashFile(fsPath(copyDir, file.path));
  const changed: RestoredFile = { path: file.path, size, sha256: digests.sha256 ?? '' };
  return {
    kind,
    target,
    outcome: { ...copy, files: copy.files.map((each) => (each === file ? changed : each)) },
  };
}

/**
 * Cuts the last tenth of a record file's lines (at least one; never the header), so the
 * file ends at a line boundary. Two streaming passes: count the lines, find where to cut.
 * Null when there is no record to remove.
 */
async function dropLastRecords(file: string | Buffer, header: boolean): Promise<number | null> {
  let lines = 0;
  let size = 0;
  let lastByte = 0x0a;
  await scanBytes(file, (chunk, offset) => {
    for (let index = chunk.indexOf(0x0a); index !== -1; index = chunk.indexOf(0x0a, index + 1))
      lines += 1;
    size = offset + chunk.length;
    lastByte = chunk[chunk.length - 1] ?? lastByte;
  });
  if (lastByte !== 0x0a) lines += 1;
  const records = lines - (header ? 1 : 0);
  if (records < 1) return null;
  const remove = Math.max(1, Math.floor(records * DELETED_ROWS_SHARE));
  const keep = lines - remove;
  // The offset just after the keep-th newline.
  let seen = 0;
  let cut = keep === 0 ? 0 : -1;
  await scanBytes(file, (chunk, offset) => {
    if (cut !== -1) return;
    for (let index = chunk.indexOf(0x0a); index !== -1; index = chunk.indexOf(0x0a, index + 1)) {
      seen += 1;
      if (seen === keep) {
        cut = offset + index + 1;
        return;
      }
    }
  });
  await truncate(file, cut === -1 ? size : cut);
  return remove;
}

/**
 * Changes one character of the first record (the line after a header): its last digit
 * (d → d+1 mod 10), else its last letter (the next letter). Reads at most the first MiB.
 * Returns what changed, or null when no record with a digit or letter was found there.
 */
async function changeFirstRecord(file: string | Buffer, header: boolean): Promise<string | null> {
  const handle = await open(file, 'r+');
  try {
    const buffer = Buffer.alloc(FIRST_RECORD_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const text = buffer.subarray(0, bytesRead);
    let start = 0;
    if (header) {
      const newline = text.indexOf(0x0a);
      if (newline === -1) return null;
      start = newline + 1;
    }
    let end = text.indexOf(0x0a, start);
    if (end === -1) end = text.length;
    const line = text.subarray(start, end);
    const isDigit = (byte: number) => byte >= 0x30 && byte <= 0x39;
    const isLetter = (byte: number) => (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7a;
    let at = line.findLastIndex(isDigit);
    if (at === -1) at = line.findLastIndex(isLetter);
    if (at === -1) return null;
    const before = line[at] ?? 0;
    const after = isDigit(before)
      ? 0x30 + ((before - 0x30 + 1) % 10)
      : (before & 0x20) + 0x41 + (((before | 0x20) - 0x61 + 1) % 26);
    await handle.write(Buffer.from([after]), 0, 1, start + at);
    return `'${String.fromCharCode(before)}' changed to '${String.fromCharCode(after)}' in its first record`;
  } finally {
    await handle.close();
  }
}

/** Reads a file 1 MiB at a time, handing each chunk and its offset to `onChunk`. */
async function scanBytes(
  file: string | Buffer,
  onChunk: (chunk: Buffer, offset: number) => void,
): Promise<void> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(1024 * 1024);
    let offset = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
      if (bytesRead === 0) return;
      onChunk(buffer.subarray(0, bytesRead), offset);
      offset += bytesRead;
    }
  } finally {
    await handle.close();
  }
}

/** Column types `updated-value` can change in SQL and change back exactly. */
const TEXT_TYPES = new Set(['text', 'character varying']);
const NUMBER_TYPES = new Set([
  'smallint',
  'integer',
  'bigint',
  'numeric',
  'real',
  'double precision',
]);

/**
 * Damages the restored scratch database in place, in `session`, and returns how to undo it:
 * `deleted-rows` deletes a tenth of the first non-empty table's rows (at least one) into a
 * temporary table the undo puts back from; `updated-value` changes one value of one row
 * (text gains a character, a number grows by one) in a column no unique index covers.
 * Null when no table fits. Tables are tried in name order, within `only` when sampled.
 */
export async function damageDatabase(
  kind: 'deleted-rows' | 'updated-value',
  session: DamageSession,
  tables: readonly { name: string; rows: number }[],
  only: ReadonlySet<string> | null,
): Promise<{ target: string; undo: () => Promise<void> } | null> {
  const rows = new Map(tables.map((table) => [table.name, table.rows]));
  const candidates = (await listTables(session.query, only)).filter(
    (table) => (rows.get(table.name) ?? 0) > 0,
  );
  for (const table of candidates) {
    if (kind === 'deleted-rows') {
      const remove = Math.max(1, Math.floor((rows.get(table.name) ?? 0) * DELETED_ROWS_SHARE));
      await session.query(`create temporary table restore_drill_selftest_rows (like ${table.sql})`);
      await session.query(
        `with gone as (delete from ${table.sql} where ctid in (select ctid from ${table.sql} limit ${remove}) returning *)
         insert into restore_drill_selftest_rows select * from gone`,
      );
      return {
        target: `table ${table.name} (${remove} of ${rows.get(table.name)} rows)`,
        undo: async () => {
          await session.query(
            `insert into ${table.sql} overriding system value select * from restore_drill_selftest_rows`,
          );
          await session.query('drop table restore_drill_selftest_rows');
        },
      };
    }
    const column = await changeableColumn(session, table.sql);
    if (column === null) continue;
    const name = quoteIdent(column.name);
    const [change, back] = column.text
      ? [`${name} || '~'`, `left(${name}, -1)`]
      : [`${name} + 1`, `${name} - 1`];
    const updated = await session.query(
      `update ${table.sql} set ${name} = ${change}
       where ctid = (select ctid from ${table.sql} where ${name} is not null limit 1) returning ctid::text as ctid`,
    );
    const ctid = updated.rows[0]?.ctid;
    if (typeof ctid !== 'string') continue;
    return {
      target: `table ${table.name} (column ${column.name} of one row)`,
      undo: async () => {
        await session.query(`update ${table.sql} set ${name} = ${back} where ctid = $1::tid`, [
          ctid,
        ]);
      },
    };
  }
  return null;
}

/** A text or number column of the table that no unique index or key covers, with a value to change. */
async function changeableColumn(
  session: DamageSession,
  tableSql: string,
): Promise<{ name: string; text: boolean } | null> {
  const { rows } = await session.query(
    `select a.attname as name, format_type(a.atttypid, null) as type
     from pg_attribute a
     where a.attrelid = $1::regclass and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
       and not exists (select 1 from pg_index i where i.indrelid = a.attrelid and i.indisunique and a.attnum = any(i.indkey))
     order by a.attnum`,
    [tableSql],
  );
  for (const row of rows) {
    const type = String(row.type);
    if (TEXT_TYPES.has(type) || NUMBER_TYPES.has(type))
      return { name: String(row.name), text: TEXT_TYPES.has(type) };
  }
  return null;
}

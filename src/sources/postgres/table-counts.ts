import type { RestoredTable } from '../../model/restore.js';
import type { QueryFn } from '../restored-database.js';

/** Ordinary and partitioned tables outside the system schemas, in name order. */
const LIST_TABLES = `
select n.nspname as schema, c.relname as name
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p')
  and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg\\_toast%'
  and n.nspname not like 'pg\\_temp\\_%'
order by n.nspname collate "C", c.relname collate "C"`;

/** `schema.table`, the name tables go by in evidence and manifests. */
export function qualifiedName(schema: string, name: string): string {
  return `${schema}.${name}`;
}

/** A SQL identifier, quoted. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A user table: its schema-qualified name and its quoted SQL reference. */
export interface ListedTable {
  name: string;
  sql: string;
}

/** Every user table, in name order; with `only`, just the tables it names. */
export async function listTables(
  query: QueryFn,
  only?: ReadonlySet<string> | null,
): Promise<ListedTable[]> {
  const listed = await query(LIST_TABLES);
  return listed.rows
    .map((row) => ({
      name: qualifiedName(String(row.schema), String(row.name)),
      sql: `${quoteIdent(String(row.schema))}.${quoteIdent(String(row.name))}`,
    }))
    .filter((table) => !only || only.has(table.name));
}

/**
 * Large objects go among the tables under the name of their catalog, one row per object:
 * pg_dump carries them beside the tables, and a lost or changed one is as much a loss.
 * Listed only when there are some, so a database without any reads as before.
 */
export const LARGE_OBJECTS = 'pg_catalog.pg_largeobject_metadata';

/** How many large objects there are: their catalog is readable by every role. */
export async function countLargeObjects(query: QueryFn): Promise<number> {
  const counted = await query(`select count(*) as rows from ${LARGE_OBJECTS}`);
  return Number(counted.rows[0]?.rows ?? 0);
}

/**
 * Exact row counts (`count(*)`) of every user table, schema-qualified, in name order,
 * then the number of large objects when there are some; with `only`, just the tables it
 * names. count(*) is int8 and may come back as text: converted here.
 */
export async function countTables(
  query: QueryFn,
  options: { only?: ReadonlySet<string> | null; signal?: AbortSignal | undefined } = {},
): Promise<RestoredTable[]> {
  const tables: RestoredTable[] = [];
  for (const table of await listTables(query, options.only)) {
    options.signal?.throwIfAborted();
    const counted = await query(`select count(*) as rows from ${table.sql}`);
    tables.push({ name: table.name, rows: Number(counted.rows[0]?.rows ?? 0) });
  }
  if (!options.only || options.only.has(LARGE_OBJECTS)) {
    const rows = await countLargeObjects(query);
    if (rows > 0) tables.push({ name: LARGE_OBJECTS, rows });
  }
  return tables;
}

import type { RestoredTable } from '../restore-source.js';
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

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Exact row counts (`count(*)`) of every user table, schema-qualified, in name order;
 * with `only`, just the tables it names. count(*) is int8 and may come back as text:
 * converted here.
 */
export async function countTables(
  query: QueryFn,
  options: { only?: ReadonlySet<string> | null; signal?: AbortSignal | undefined } = {},
): Promise<RestoredTable[]> {
  const listed = await query(LIST_TABLES);
  const tables: RestoredTable[] = [];
  for (const row of listed.rows) {
    options.signal?.throwIfAborted();
    const name = qualifiedName(String(row.schema), String(row.name));
    if (options.only && !options.only.has(name)) continue;
    const counted = await query(
      `select count(*) as rows from ${quoteIdent(String(row.schema))}.${quoteIdent(String(row.name))}`,
    );
    tables.push({ name, rows: Number(counted.rows[0]?.rows ?? 0) });
  }
  return tables;
}

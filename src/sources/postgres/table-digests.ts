import type { QueryFn } from '../restored-database.js';
import { countLargeObjects, LARGE_OBJECTS, listTables } from './table-counts.js';

/** A table's row count and the order-independent digest of its rows. */
export interface TableDigest {
  name: string;
  rows: number;
  /** 32 hex digits: two 64-bit sums of per-row MD5 halves, each modulo 2^64. */
  digest: string;
}

/**
 * Session settings that fix how values print as text, so a row's text form (and so its
 * hash) is the same on any server, in any time zone, before and after pg_dump/pg_restore.
 * SET LOCAL: they end with the caller's transaction.
 */
export const DIGEST_SETTINGS = [
  "set local timezone = 'UTC'",
  "set local datestyle = 'ISO, YMD'",
  "set local intervalstyle = 'postgres'",
  'set local extra_float_digits = 1',
  "set local bytea_output = 'hex'",
  "set local lc_monetary = 'C'",
];

/**
 * Hashes each row's text form (`t::text`: every column, dropped ones excluded) with MD5
 * and sums the two 64-bit halves as numeric, so the digest ignores row order and
 * physical layout but changes with any value, any added or removed row (a sum, unlike
 * XOR, does not cancel duplicate rows). Runs entirely on the server: one sequential scan.
 */
function digestQuery(table: string): string {
  return `select count(*) as rows,
  coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)::text as high,
  coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0)::text as low
from (select md5(t::text) as h from ${table} as t) as hashed`;
}

/** Bytes of a large object read (and hashed) at once: memory stays bounded whatever its size. */
const LARGE_OBJECT_CHUNK = 1024 * 1024;

/**
 * The same digest over large objects: each object's OID and the MD5s of its bytes read in
 * 1 MiB pieces by offset (`lo_get`), so it depends on the content only, never on how the
 * pages of pg_largeobject (readable by superusers alone) lie. A recursive query reads the
 * next piece of every object whose last piece was full.
 */
const LARGE_OBJECT_DIGEST = `with recursive pieces(oid, off, len, h) as (
  select m.oid, 0::bigint, length(piece), md5(piece)
  from ${LARGE_OBJECTS} m, lateral (select lo_get(m.oid, 0, ${LARGE_OBJECT_CHUNK}) as piece) p
  union all
  select k.oid, k.off + ${LARGE_OBJECT_CHUNK}, length(piece), md5(piece)
  from pieces k, lateral (select lo_get(k.oid, k.off + ${LARGE_OBJECT_CHUNK}, ${LARGE_OBJECT_CHUNK}) as piece) p
  where k.len = ${LARGE_OBJECT_CHUNK}
)
select count(*) as rows,
  coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)::text as high,
  coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0)::text as low
from (
  select md5(oid::text || ':' || string_agg(h, ',' order by off)) as h from pieces group by oid
) as objects`;

const TWO_TO_64 = 1n << 64n;

function hex64(sum: string): string {
  const value = ((BigInt(sum) % TWO_TO_64) + TWO_TO_64) % TWO_TO_64;
  return value.toString(16).padStart(16, '0');
}

/**
 * Row counts and content digests of every user table (name order), then of the large
 * objects when there are some (see `LARGE_OBJECTS`), computed in SQL on
 * the server so no row leaves the database. The caller runs it inside one transaction
 * (a snapshot, and the SET LOCALs above apply); `only` limits it to the named tables.
 * Cost: a sequential scan of each table plus an MD5 per row.
 */
export async function digestTables(
  query: QueryFn,
  options: { only?: ReadonlySet<string> | null; signal?: AbortSignal | undefined } = {},
): Promise<TableDigest[]> {
  for (const setting of DIGEST_SETTINGS) await query(setting);
  const digests: TableDigest[] = [];
  const add = async (name: string, sql: string): Promise<void> => {
    options.signal?.throwIfAborted();
    const result = await query(sql);
    const row = result.rows[0] ?? {};
    digests.push({
      name,
      rows: Number(row.rows ?? 0),
      digest: hex64(String(row.high ?? '0')) + hex64(String(row.low ?? '0')),
    });
  };
  for (const table of await listTables(query, options.only))
    await add(table.name, digestQuery(table.sql));
  if ((!options.only || options.only.has(LARGE_OBJECTS)) && (await countLargeObjects(query)) > 0)
    await add(LARGE_OBJECTS, LARGE_OBJECT_DIGEST);
  return digests;
}

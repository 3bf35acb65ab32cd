import type { Extension, Extensions } from '@electric-sql/pglite';
import { isCompressedDataError } from '../decompress.js';
import { PlainDumpError, readPlainDump, stripLeadingComments } from './plain-sql.js';

/**
 * The contrib extensions PGlite ships, by the name `CREATE EXTENSION` gives them. PGlite
 * loads an extension only when it opens, so a plain dump's extensions are found first.
 */
const PGLITE_EXTENSIONS: Readonly<Record<string, () => Promise<Extension>>> = {
  amcheck: async () => (await import('@electric-sql/pglite/contrib/amcheck')).amcheck,
  bloom: async () => (await import('@electric-sql/pglite/contrib/bloom')).bloom,
  btree_gin: async () => (await import('@electric-sql/pglite/contrib/btree_gin')).btree_gin,
  btree_gist: async () => (await import('@electric-sql/pglite/contrib/btree_gist')).btree_gist,
  citext: async () => (await import('@electric-sql/pglite/contrib/citext')).citext,
  cube: async () => (await import('@electric-sql/pglite/contrib/cube')).cube,
  dict_int: async () => (await import('@electric-sql/pglite/contrib/dict_int')).dict_int,
  dict_xsyn: async () => (await import('@electric-sql/pglite/contrib/dict_xsyn')).dict_xsyn,
  earthdistance: async () =>
    (await import('@electric-sql/pglite/contrib/earthdistance')).earthdistance,
  fuzzystrmatch: async () =>
    (await import('@electric-sql/pglite/contrib/fuzzystrmatch')).fuzzystrmatch,
  hstore: async () => (await import('@electric-sql/pglite/contrib/hstore')).hstore,
  intarray: async () => (await import('@electric-sql/pglite/contrib/intarray')).intarray,
  isn: async () => (await import('@electric-sql/pglite/contrib/isn')).isn,
  lo: async () => (await import('@electric-sql/pglite/contrib/lo')).lo,
  ltree: async () => (await import('@electric-sql/pglite/contrib/ltree')).ltree,
  pg_trgm: async () => (await import('@electric-sql/pglite/contrib/pg_trgm')).pg_trgm,
  pgcrypto: async () => (await import('@electric-sql/pglite/contrib/pgcrypto')).pgcrypto,
  seg: async () => (await import('@electric-sql/pglite/contrib/seg')).seg,
  tablefunc: async () => (await import('@electric-sql/pglite/contrib/tablefunc')).tablefunc,
  tcn: async () => (await import('@electric-sql/pglite/contrib/tcn')).tcn,
  tsm_system_rows: async () =>
    (await import('@electric-sql/pglite/contrib/tsm_system_rows')).tsm_system_rows,
  tsm_system_time: async () =>
    (await import('@electric-sql/pglite/contrib/tsm_system_time')).tsm_system_time,
  unaccent: async () => (await import('@electric-sql/pglite/contrib/unaccent')).unaccent,
  'uuid-ossp': async () => (await import('@electric-sql/pglite/contrib/uuid_ossp')).uuid_ossp,
};

const CREATE_EXTENSION = /^CREATE\s+EXTENSION\s+(?:IF\s+NOT\s+EXISTS\s+)?("(?:[^"]|"")+"|[\w-]+)/i;
/** pg_dump creates every extension before the first table: reading stops there. */
const FIRST_TABLE = /^(CREATE\s+(UNLOGGED\s+)?TABLE|COPY)\s/i;

/**
 * The extensions a plain dump creates that the embedded database can load, read from its
 * head (pg_dump writes them before any table). An extension PGlite lacks is left out: its
 * CREATE EXTENSION then fails as it would on a server without it.
 */
export async function pgliteExtensionsFor(
  dump: string,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<Extensions> {
  const extensions: Extensions = {};
  try {
    for await (const event of readPlainDump(dump, options)) {
      if (event.kind === 'copy-start') break;
      if (event.kind !== 'statement') continue;
      const bare = stripLeadingComments(event.text);
      if (FIRST_TABLE.test(bare)) break;
      const name = CREATE_EXTENSION.exec(bare)?.[1];
      if (name === undefined) continue;
      const unquoted = name.startsWith('"') ? name.slice(1, -1).replace(/""/g, '"') : name;
      const load = PGLITE_EXTENSIONS[unquoted];
      if (load) extensions[unquoted.replace(/-/g, '_')] = await load();
    }
  } catch (error) {
    // A dump damaged in its head: the load that follows meets the same damage and names it.
    options.signal?.throwIfAborted();
    if (!(error instanceof PlainDumpError) && !isCompressedDataError(error)) throw error;
  }
  return extensions;
}

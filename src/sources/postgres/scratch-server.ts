import path from 'node:path';
import type { Client } from 'pg';
import pg from '../../evidence/node-postgres.js';
import { SourceError } from '../../model/restore.js';
import { majorOfVersionNum } from './statement-damage.js';
import type { DamageSession, QueryFn, RestoredDatabase } from '../restored-database.js';

/** Every scratch database's name starts with this, so a sweep can find leftovers and nothing else. */
export const SCRATCH_DATABASE_PREFIX = 'restore_drill_';

/** PostgreSQL's identifier limit (NAMEDATALEN - 1). */
const MAX_NAME_BYTES = 63;

/** How long connecting to the scratch server may take before it counts as unreachable. */
const CONNECT_TIMEOUT_MS = 15_000;

/**
 * libpq settings that could point the tools somewhere other than the URL says: cleared
 * for pg_restore and psql, so the scratch server is only ever the one named in the config.
 */
const CLEARED_PG_ENV = [
  'PGHOST',
  'PGHOSTADDR',
  'PGPORT',
  'PGDATABASE',
  'PGUSER',
  'PGSERVICE',
  'PGSERVICEFILE',
  'PGPASSFILE',
  'PGOPTIONS',
  'PGPASSWORD',
];

/**
 * `restore_drill_<drill>_<short run id>` from the run's scratch folder, which is named
 * `<drill>-<UTC stamp>-<short run id>` (scratch/scratch-dir.ts): lower-cased, anything
 * but letters, digits and `_` turned into `_`, the drill part shortened to fit 63 bytes.
 */
export function scratchDatabaseName(scratchDir: string): string {
  const base = path.basename(scratchDir);
  const match = /^(.*)-\d{8}T\d{6}Z-([A-Za-z0-9]+)$/.exec(base);
  const clean = (text: string): string => text.toLowerCase().replace(/[^a-z0-9_]+/g, '_');
  const drill = clean(match?.[1] ?? base);
  const run = clean(match?.[2] ?? '').slice(0, 12);
  const room = MAX_NAME_BYTES - SCRATCH_DATABASE_PREFIX.length - (run ? run.length + 1 : 0);
  return `${SCRATCH_DATABASE_PREFIX}${drill.slice(0, room)}${run ? `_${run}` : ''}`;
}

/** A scratch server URL taken apart: how to connect, and how to show it without its password. */
export interface ServerAddress {
  /** The URL with its password, for node-postgres only. */
  url: string;
  /** Host and port, for messages. */
  display: string;
  user: string;
  /** The database named in the URL (the one connected to for CREATE/DROP DATABASE). */
  database: string;
  password: string | null;
}

/** Parses the configured URL; throws SourceError when it names no host or database. */
export function parseServerUrl(url: string): ServerAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SourceError(
      'scratchServer.url is not a valid URL (for a unix socket: postgres:///postgres?host=/var/run/postgresql&user=NAME)',
    );
  }
  const socketHost = parsed.searchParams.get('host');
  const host = parsed.hostname || socketHost || '';
  if (host === '')
    throw new SourceError(
      'scratchServer.url names no host; the scratch server must be named explicitly',
    );
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || 'postgres';
  const user = decodeURIComponent(parsed.username) || parsed.searchParams.get('user') || '';
  return {
    url,
    display: `${host}${parsed.port ? `:${parsed.port}` : ''}`,
    user,
    database,
    password: parsed.password === '' ? null : decodeURIComponent(parsed.password),
  };
}

/** The URL of `database` on the same server, without the password (it goes through PGPASSWORD). */
export function databaseUrl(
  address: ServerAddress,
  database: string,
  options: { withPassword?: boolean } = {},
): string {
  const parsed = new URL(address.url);
  if (!options.withPassword) parsed.password = '';
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

/** Environment for pg_restore and psql: the password, and no libpq setting that could redirect them. */
export function toolEnv(address: ServerAddress): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const name of CLEARED_PG_ENV) env[name] = undefined;
  if (address.password !== null) env.PGPASSWORD = address.password;
  return env;
}

/** A node-postgres error as one line naming the server, mapped from its code. */
export function describeConnectionError(
  error: unknown,
  address: ServerAddress,
  database: string,
): string {
  const e = error as { code?: string; message?: string };
  const message = (e.message ?? String(error)).split('\n')[0] ?? '';
  const where = `scratch server ${address.display}`;
  switch (e.code) {
    case '28P01':
    case '28000':
      return `${where} rejected the credentials of user '${address.user}': ${message}`;
    case '3D000':
      return `${where} has no database '${database}': ${message}`;
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ETIMEDOUT':
    case 'ENOENT':
      return `${where} is unreachable: ${message}`;
    default:
      if (/timeout/i.test(message)) return `${where} is unreachable: ${message}`;
      return `${where}: ${message}`;
  }
}

async function connect(address: ServerAddress, database: string): Promise<Client> {
  const client = new pg.Client({
    connectionString: databaseUrl(address, database, { withPassword: true }),
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  // A dropped connection must not crash the process; the next query reports it.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw new SourceError(describeConnectionError(error, address, database), isTransient(error), {
      cause: error,
    });
  }
  return client;
}

function isTransient(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return (
    code === 'ECONNREFUSED' ||
    code === 'ETIMEDOUT' ||
    code === 'EAI_AGAIN' ||
    code === 'EHOSTUNREACH'
  );
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Creates `name` on the scratch server as a fresh database (from template0, so nothing
 * of template1 leaks in). Refuses a name equal to a database the backup came from, and
 * refuses to reuse a database that already exists: a drill never restores over data.
 * Returns the server's major version (null if it would not say).
 */
export async function createScratchDatabase(
  address: ServerAddress,
  name: string,
  sourceDatabases: readonly string[],
): Promise<number | null> {
  const clash = [address.database, ...sourceDatabases].find((source) => source === name);
  if (clash !== undefined) {
    throw new SourceError(
      `refusing scratch database '${name}': it has the name of a source database ('${clash}'); a drill never restores into a source`,
    );
  }
  const client = await connect(address, address.database);
  try {
    await client.query(`create database ${quoteIdent(name)} template template0`);
    return await client
      .query<{ server_version_num: string }>('show server_version_num')
      .then((result) => majorOfVersionNum(result.rows[0]?.server_version_num ?? 0))
      .catch(() => null);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === '42P04') {
      throw new SourceError(
        `refusing to restore into database '${name}' on scratch server ${address.display}: it already exists`,
        false,
        { cause: error },
      );
    }
    if (code === '42501') {
      throw new SourceError(
        `user '${address.user}' may not create databases on scratch server ${address.display} (needs CREATEDB)`,
        false,
        { cause: error },
      );
    }
    throw new SourceError(
      `cannot create scratch database '${name}' on ${address.display}: ${describeConnectionError(error, address, address.database)}`,
      false,
      { cause: error },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Drops a scratch database, disconnecting whoever is still in it. Only names with the scratch prefix are ever dropped. */
export async function dropScratchDatabase(address: ServerAddress, name: string): Promise<void> {
  if (!name.startsWith(SCRATCH_DATABASE_PREFIX))
    throw new Error(`refusing to drop '${name}': not a scratch database`);
  const client = await connect(address, address.database);
  try {
    await client.query(`drop database if exists ${quoteIdent(name)} with (force)`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** True when `name` exists on the server (for tests and sweeps). */
export async function databaseExists(address: ServerAddress, name: string): Promise<boolean> {
  const client = await connect(address, address.database);
  try {
    const result = await client.query('select 1 from pg_database where datname = $1', [name]);
    return result.rowCount === 1;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A database on a PostgreSQL server, opened read-only per use. */
export class ServerDatabase implements RestoredDatabase {
  readonly location: string;

  constructor(
    private readonly address: ServerAddress,
    private readonly name: string,
  ) {
    this.location = databaseUrl(address, name);
  }

  commandAccess(): { url: string; env: Record<string, string | undefined> } {
    return { url: this.location, env: toolEnv(this.address) };
  }

  async readOnly<T>(
    fn: (query: QueryFn) => Promise<T>,
    options: { statementTimeoutMs: number },
  ): Promise<T> {
    const client = await connect(this.address, this.name);
    try {
      await client.query('begin transaction read only');
      await client.query(
        `set local statement_timeout = ${Math.max(0, Math.round(options.statementTimeoutMs))}`,
      );
      const query: QueryFn = async (text, params) => {
        const result = await client.query({ text, values: params ? [...params] : [] });
        return {
          rows: result.rows as Record<string, unknown>[],
          fields: result.fields.map((field) => ({ name: field.name })),
        };
      };
      return await fn(query);
    } finally {
      await client.query('rollback').catch(() => undefined);
      await client.end().catch(() => undefined);
    }
  }

  async damageSession(): Promise<DamageSession> {
    const client = await connect(this.address, this.name);
    return {
      query: async (text, params) => {
        const result = await client.query({ text, values: params ? [...params] : [] });
        return {
          rows: result.rows as Record<string, unknown>[],
          fields: result.fields.map((field) => ({ name: field.name })),
        };
      },
      close: () => client.end().catch(() => undefined),
    };
  }
}

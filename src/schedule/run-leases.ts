import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { sql, type Kysely } from 'kysely';
import type { Client } from 'pg';
import pg from '../evidence/node-postgres.js';
import { redactor } from '../model/redact.js';
import type { Database } from '../evidence/database.js';
import { reasonOf } from '../evidence/errors.js';
import type { EvidenceDialect } from '../evidence/open-store.js';
import type { RunStart } from '../evidence/runs.js';
import { isProcessAlive } from '../exec/process-identity.js';
import type { Logger } from '../log/logger.js';

/** What liveness needs to know of a started run. */
export type RunOwner = Pick<RunStart, 'runId' | 'host' | 'pid' | 'processStart' | 'bootId'>;

/**
 * Proof that a started run's process is still alive, readable by every process
 * sharing the evidence database. A run holds its lease from before its start is
 * recorded until its result is; a run without a result and without a lease was
 * left by a process that died.
 */
export interface RunLeases {
  /** `advisory-lock` on PostgreSQL (visible to every replica); `in-process` on embedded PGlite (single process). */
  readonly kind: 'advisory-lock' | 'in-process';
  /** Takes the run's lease; the returned function gives it back (idempotent). */
  hold(runId: string): Promise<() => Promise<void>>;
  /** Run ids this process holds leases for. */
  held(): ReadonlySet<string>;
  /** Of these runs, the ids whose owner is alive (this process, or another holding its lease). */
  alive(runs: readonly RunOwner[], db: Kysely<Database>): Promise<Set<string>>;
  /** Gives back every lease and closes the lease connection. */
  close(): Promise<void>;
}

/**
 * Advisory-lock keys of run leases, in PostgreSQL's single-bigint key space
 * (which never overlaps the two-int space of the evidence chain lock): 'RD' in
 * the top 16 bits, 48 bits of SHA-256 of the run id below.
 */
export function leaseKey(runId: string): bigint {
  const digest = createHash('sha256').update(runId).digest();
  return (0x5244n << 48n) | BigInt(digest.readUIntBE(0, 6));
}

/** `classid:objid` as pg_locks shows a bigint advisory key (high and low 32 bits). */
function lockId(key: bigint): string {
  return `${key >> 32n}:${key & 0xffff_ffffn}`;
}

export interface CreateRunLeasesOptions {
  dialect: EvidenceDialect;
  /** The PostgreSQL URL (required for `postgres`): leases hold a connection of their own. */
  url?: string | undefined;
  log: Logger;
}

/** Leases for the store's engine: advisory locks on PostgreSQL, an in-process set on PGlite. */
export function createRunLeases(options: CreateRunLeasesOptions): RunLeases {
  if (options.dialect === 'pglite') return new InProcessRunLeases();
  if (!options.url) throw new Error('run leases on PostgreSQL need the database URL');
  return new AdvisoryLockRunLeases(options.url, options.log);
}

/**
 * Embedded PGlite is held by one process (its lock file says so), so this
 * process's own runs are the only live ones: any other unfinished run was left
 * by a process that is gone.
 */
class InProcessRunLeases implements RunLeases {
  readonly kind = 'in-process';
  readonly #held = new Set<string>();

  async hold(runId: string): Promise<() => Promise<void>> {
    this.#held.add(runId);
    return async () => {
      this.#held.delete(runId);
    };
  }

  held(): ReadonlySet<string> {
    return this.#held;
  }

  async alive(runs: readonly RunOwner[]): Promise<Set<string>> {
    return new Set(runs.filter((run) => this.#held.has(run.runId)).map((run) => run.runId));
  }

  async close(): Promise<void> {
    this.#held.clear();
  }
}

/** Wait between attempts to re-open a lost lease connection. */
const RECONNECT_MS = 2_000;

/**
 * Each running run holds a session-level advisory lock on its key, on one
 * connection of this process kept for that alone: when the process dies, the
 * server ends the session and the lock goes with it, on whichever host it ran.
 * A lost connection is re-opened and its locks taken again.
 */
class AdvisoryLockRunLeases implements RunLeases {
  readonly kind = 'advisory-lock';
  readonly #url: string;
  readonly #log: Logger;
  readonly #held = new Map<string, bigint>();
  #client: Promise<Client> | null = null;
  #retry: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(url: string, log: Logger) {
    this.#url = url;
    this.#log = log;
  }

  async hold(runId: string): Promise<() => Promise<void>> {
    if (this.#closed) throw new Error('run leases are closed');
    const key = leaseKey(runId);
    const client = await this.#connect();
    const { rows } = await client.query<{ locked: boolean }>(
      'select pg_try_advisory_lock($1::bigint) as locked',
      [key.toString()],
    );
    if (rows[0]?.locked !== true) {
      // 48 bits make this all but impossible; the run still counts as alive while the other holder lives.
      this.#log.warn(
        { runId },
        'run lease key is held by another session (hash collision); liveness of this run follows that session',
      );
    }
    this.#held.set(runId, key);
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      this.#held.delete(runId);
      if (rows[0]?.locked !== true) return;
      try {
        const current = await this.#client;
        await current?.query('select pg_advisory_unlock($1::bigint)', [key.toString()]);
      } catch (error) {
        // A lost connection released the lock already.
        this.#log.debug({ runId, err: reasonOf(error) }, 'could not release run lease');
      }
    };
  }

  held(): ReadonlySet<string> {
    return new Set(this.#held.keys());
  }

  async alive(runs: readonly RunOwner[], db: Kysely<Database>): Promise<Set<string>> {
    if (runs.length === 0) return new Set();
    const { rows } = await sql<{ id: string }>`
      select classid::text || ':' || objid::text as id from pg_locks
      where locktype = 'advisory' and objsubid = 1 and granted
        and database = (select oid from pg_database where datname = current_database())`.execute(
      db,
    );
    const locked = new Set(rows.map((row) => row.id));
    const here = hostname();
    const alive = new Set<string>();
    for (const run of runs) {
      if (this.#held.has(run.runId) || locked.has(lockId(leaseKey(run.runId))))
        alive.add(run.runId);
      // No lock, but its live process here (not a zombie, not a reused pid): perhaps its lease connection is being re-opened. Never abort a live run.
      else if (
        run.host === here &&
        run.pid !== process.pid &&
        isProcessAlive(run.pid, { processStart: run.processStart, bootId: run.bootId })
      )
        alive.add(run.runId);
    }
    return alive;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#held.clear();
    const client = await this.#client?.catch(() => null);
    this.#client = null;
    await client?.end().catch(() => {});
  }

  #connect(): Promise<Client> {
    this.#client ??= this.#open().catch((error: unknown) => {
      this.#client = null;
      throw new Error(`cannot open the run lease connection: ${redactor.redact(reasonOf(error))}`, {
        cause: error,
      });
    });
    return this.#client;
  }

  async #open(): Promise<Client> {
    const client = new pg.Client({
      connectionString: this.#url,
      keepAlive: true,
      connectionTimeoutMillis: 10_000,
    });
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, new Error('connection ended')));
    await client.connect();
    await client.query(`set application_name = 'restore-drill run leases'`);
    // After a lost connection: take the leases of the runs still going again.
    for (const [runId, key] of this.#held) {
      const { rows } = await client.query<{ locked: boolean }>(
        'select pg_try_advisory_lock($1::bigint) as locked',
        [key.toString()],
      );
      if (rows[0]?.locked !== true)
        this.#log.error(
          { runId },
          'could not take the lease of a running run again; another process may have closed it as aborted',
        );
    }
    return client;
  }

  #lost(client: Client, error: Error): void {
    if (this.#closed) return;
    void this.#client?.then(
      (current) => {
        if (current !== client) return;
        this.#client = null;
        this.#log.warn(
          { err: redactor.redact(reasonOf(error)), running: this.#held.size },
          'run lease connection lost; re-opening it',
        );
        this.#scheduleReconnect();
      },
      () => {},
    );
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#retry || this.#held.size === 0) return;
    this.#retry = setTimeout(() => {
      this.#retry = null;
      this.#connect().catch((error: unknown) => {
        this.#log.warn({ err: reasonOf(error) }, 'run lease connection still down');
        this.#scheduleReconnect();
      });
    }, RECONNECT_MS);
    this.#retry.unref();
  }
}

import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { sql } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { redactor } from '../../src/model/redact.js';
import { EvidenceError } from '../../src/evidence/errors.js';
import { migrations } from '../../src/evidence/migrations/index.js';
import { openPglite } from '../../src/evidence/pglite-seed.js';
import {
  describePostgresUrl,
  openEvidenceStore,
  type EvidenceStore,
} from '../../src/evidence/open-store.js';
import { ownProcessIdentity } from '../../src/exec/process-identity.js';
import { runCommand } from '../../src/exec/run-command.js';
import { silentLogger } from '../../src/log/logger.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { appendBareRuns } from '../helpers/run-records.js';
import { createTestDatabase, createTestEmbeddedDir } from '../helpers/test-database.js';

const projectRoot = resolve(import.meta.dirname, '../..');
const childScript = join(import.meta.dirname, 'fixtures/open-store-child.ts');

/** Opens the embedded store in a real second Node process. */
function runChild(mode: 'open-close' | 'open-exit', embeddedDir: string) {
  return runCommand(
    process.execPath,
    [join(projectRoot, 'test/helpers/run-ts.mjs'), childScript, mode, embeddedDir],
    {
      cwd: projectRoot,
      timeoutMs: SLOW_STORE_MS,
    },
  );
}

/** A pid that certainly belonged to a process which has since exited. */
async function deadPid(): Promise<number> {
  const result = await runCommand('sh', ['-c', 'echo $$']);
  return Number(result.stdout.trim());
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function openError(promise: Promise<EvidenceStore>): Promise<EvidenceError> {
  const outcome = await promise.then(
    async (store) => {
      await store.close();
      return undefined;
    },
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(EvidenceError);
  return outcome as EvidenceError;
}

/** A debug logger and the records it wrote. */
function debugLog() {
  const written: string[] = [];
  const log = pino(
    { level: 'debug' },
    new Writable({ write: (chunk, _encoding, done) => (written.push(String(chunk)), done()) }),
  );
  const lines = () =>
    written.map((line) => JSON.parse(line) as { msg: string; applied?: string[] });
  return { log, lines };
}

describe('openEvidenceStore, embedded PGlite', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  }, SLOW_STORE_MS);

  async function embeddedDir(): Promise<string> {
    const { dir, cleanup } = await createTestEmbeddedDir();
    cleanups.push(cleanup);
    return dir;
  }

  it(
    "creates missing parent folders and a fresh database from the build's migrated seed, and holds a lock file while open",
    async () => {
      const root = await mkdtemp(join(tmpdir(), 'restore-drill-fresh-'));
      cleanups.push(() => rm(root, { recursive: true, force: true }));
      const dir = join(root, 'a', 'b', '.restore-drill');
      const { log, lines } = debugLog();
      const store = await openEvidenceStore({ embeddedDir: dir, log });
      try {
        expect(store.dialect).toBe('pglite');
        // Every migration is already in the seed, and exactly this version's.
        expect(lines().filter((line) => line.msg === 'evidence store open')).toMatchObject([
          { applied: [] },
        ]);
        const applied = await sql<{ name: string }>`select name from kysely_migration order by name`
          .execute(store.db)
          .then(({ rows }) => rows.map((row) => row.name));
        expect(applied).toEqual(Object.keys(migrations));
        expect(await exists(join(dir, 'pgdata', 'PG_VERSION'))).toBe(true);
        const lock = JSON.parse(await readFile(join(dir, 'lock'), 'utf8'));
        expect(lock).toEqual({
          pid: process.pid,
          host: hostname(),
          since: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          ...ownProcessIdentity(),
        });
        expect(await store.db.selectFrom('run_starts').selectAll().execute()).toEqual([]);
      } finally {
        await store.close();
      }
      expect(await exists(join(dir, 'lock'))).toBe(false);
      await store.close();
    },
    SLOW_STORE_MS,
  );

  it(
    'migrates a store made before its version (initdb only): every migration, in order',
    async () => {
      const root = await mkdtemp(join(tmpdir(), 'restore-drill-unmigrated-'));
      cleanups.push(() => rm(root, { recursive: true, force: true }));
      const older = await openPglite(join(root, 'pgdata'));
      await older.close();
      const { log, lines } = debugLog();
      const store = await openEvidenceStore({ embeddedDir: root, log });
      try {
        expect(lines().filter((line) => line.msg === 'evidence store open')).toMatchObject([
          { applied: Object.keys(migrations) },
        ]);
        expect(await store.db.selectFrom('run_starts').selectAll().execute()).toEqual([]);
      } finally {
        await store.close();
      }
    },
    SLOW_STORE_MS,
  );

  it(
    'vacuums and gathers planner statistics at close once 1000 runs came since the last time, as autovacuum would',
    async () => {
      const dir = await embeddedDir();
      const analyzed = async (store: EvidenceStore) =>
        Object.fromEntries(
          (
            await sql<{ relname: string; reltuples: number }>`
              select relname, reltuples from pg_class
              where relname in ('run_starts', 'run_results')`.execute(store.db)
          ).rows.map((row) => [row.relname, row.reltuples]),
        );
      // VACUUM's visibility map: every page all-visible, so counts read the indexes alone.
      const allVisible = async (store: EvidenceStore) =>
        (
          await sql<{ relname: string; visible: boolean }>`
            select relname, relpages > 0 and relallvisible = relpages as visible from pg_class
            where relname in ('run_starts', 'run_results')`.execute(store.db)
        ).rows.every((row) => row.visible);
      let next = 0;
      const addRuns = async (store: EvidenceStore, count: number) => {
        await appendBareRuns(store.db, 'stats', next + 1, next + count);
        next += count;
      };

      const first = await openEvidenceStore({ embeddedDir: dir, log: silentLogger() });
      await addRuns(first, 900);
      await first.close();
      const second = await openEvidenceStore({ embeddedDir: dir, log: silentLogger() });
      expect(await analyzed(second)).toEqual({ run_starts: -1, run_results: -1 });
      expect(await allVisible(second)).toBe(false);
      await addRuns(second, 200);
      await second.close();
      const third = await openEvidenceStore({ embeddedDir: dir, log: silentLogger() });
      expect(await analyzed(third)).toEqual({ run_starts: 1100, run_results: 1100 });
      expect(await allVisible(third)).toBe(true);
      // A small sample (statistics target 10): 11 histogram bounds at most, not PostgreSQL's 101.
      const { rows: bounds } = await sql<{ count: number }>`
        select array_length(histogram_bounds::text::text[], 1) as count from pg_stats
        where tablename = 'run_results' and attname = 'started_at'`.execute(third.db);
      expect(bounds[0]?.count).toBeGreaterThan(1);
      expect(bounds[0]?.count).toBeLessThanOrEqual(11);
      // Another 100 runs are under a tenth more: no new statistics yet.
      await addRuns(third, 100);
      await third.close();
      const fourth = await openEvidenceStore({ embeddedDir: dir, log: silentLogger() });
      try {
        expect(await analyzed(fourth)).toEqual({ run_starts: 1100, run_results: 1100 });
      } finally {
        await fourth.close();
      }

      // Statistics without a visibility map, as a version that only ran ANALYZE left them:
      // vacuumed at the next close although no run came since.
      const older = await embeddedDir();
      next = 0;
      const analyzedOnly = await openEvidenceStore({ embeddedDir: older, log: silentLogger() });
      await addRuns(analyzedOnly, 1100);
      await sql`analyze run_starts, run_results`.execute(analyzedOnly.db);
      expect(await allVisible(analyzedOnly)).toBe(false);
      await analyzedOnly.close();
      const upgraded = await openEvidenceStore({ embeddedDir: older, log: silentLogger() });
      try {
        expect(await allVisible(upgraded)).toBe(true);
      } finally {
        await upgraded.close();
      }
    },
    SLOW_STORE_MS,
  );

  it(
    'refuses a second process on the same folder, naming the holder, and lets it in after close',
    async () => {
      const dir = await embeddedDir();
      const store = await openEvidenceStore({ embeddedDir: dir, log: silentLogger() });
      const since = JSON.parse(await readFile(join(dir, 'lock'), 'utf8')).since as string;
      let refused;
      try {
        refused = await runChild('open-close', dir);
      } finally {
        await store.close();
      }
      expect(refused.exitCode).toBe(3);
      expect(refused.stderrTail).toBe(
        `evidence database ${join(dir, 'pgdata')} is in use by pid ${process.pid} on host ${hostname()} since ${since}; ` +
          'embedded PGlite is single-process: stop that process or configure database.url',
      );
      const admitted = await runChild('open-close', dir);
      expect(admitted.stderrTail).toBe('');
      expect(admitted.exitCode).toBe(0);
      expect(admitted.stdoutTail).toMatch(/^opened by pid \d+$/);
    },
    SLOW_STORE_MS,
  );

  it(
    'releases the lock when the holding process exits without closing',
    async () => {
      const dir = await embeddedDir();
      const child = await runChild('open-exit', dir);
      expect(child.exitCode, child.stderrTail).toBe(0);
      expect(child.stdoutTail).toMatch(/^opened by pid \d+$/);
      expect(await exists(join(dir, 'lock'))).toBe(false);
      const store = await openEvidenceStore({ embeddedDir: dir, log: silentLogger() });
      await store.close();
    },
    SLOW_STORE_MS,
  );

  it(
    'takes over a lock left by a process that is gone',
    async () => {
      const dir = await embeddedDir();
      const pid = await deadPid();
      await writeFile(
        join(dir, 'lock'),
        JSON.stringify({ pid, host: hostname(), since: '2024-01-01T00:00:00.000Z' }),
      );
      const store = await openEvidenceStore({ embeddedDir: dir, log: silentLogger() });
      try {
        expect(JSON.parse(await readFile(join(dir, 'lock'), 'utf8')).pid).toBe(process.pid);
      } finally {
        await store.close();
      }
    },
    SLOW_STORE_MS,
  );

  /** An empty folder: enough where the lock refuses before PGlite is touched. */
  async function emptyDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'restore-drill-lockonly-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  it(
    'refuses a lock held on another host, whose process it cannot check',
    async () => {
      const dir = await emptyDir();
      await writeFile(
        join(dir, 'lock'),
        JSON.stringify({ pid: 1234, host: 'elsewhere', since: '2024-01-01T00:00:00.000Z' }),
      );
      const error = await openError(openEvidenceStore({ embeddedDir: dir, log: silentLogger() }));
      expect(error.code).toBe('locked');
      expect(error.message).toBe(
        `evidence database ${join(dir, 'pgdata')} is in use by pid 1234 on host elsewhere since 2024-01-01T00:00:00.000Z; ` +
          'embedded PGlite is single-process: stop that process or configure database.url ' +
          `(this host cannot check a process on another host: if it is gone, delete ${join(dir, 'lock')})`,
      );
      expect(JSON.parse(await readFile(join(dir, 'lock'), 'utf8')).host).toBe('elsewhere');
    },
    SLOW_STORE_MS,
  );

  it(
    'refuses a second open of the same folder within one process',
    async () => {
      const dir = await embeddedDir();
      const store = await openEvidenceStore({ embeddedDir: dir, log: silentLogger() });
      try {
        const error = await openError(openEvidenceStore({ embeddedDir: dir, log: silentLogger() }));
        expect(error.message).toMatch(
          `is in use by pid ${process.pid} (this process) on host ${hostname()}`,
        );
      } finally {
        await store.close();
      }
    },
    SLOW_STORE_MS,
  );

  it(
    'reports a data folder PGlite cannot open, and releases the lock',
    async () => {
      const root = await mkdtemp(join(tmpdir(), 'restore-drill-broken-'));
      cleanups.push(() => rm(root, { recursive: true, force: true }));
      await mkdir(join(root, 'pgdata'));
      await writeFile(join(root, 'pgdata', 'PG_VERSION'), '9\n');
      const error = await openError(openEvidenceStore({ embeddedDir: root, log: silentLogger() }));
      expect(error.code).toBe('open-failed');
      expect(error.message).toMatch(
        new RegExp(`^cannot open evidence database ${join(root, 'pgdata')}: \\S`),
      );
      expect(await exists(join(root, 'lock'))).toBe(false);
    },
    SLOW_STORE_MS,
  );

  it(
    'reports an embedded folder that cannot be created',
    async () => {
      const root = await mkdtemp(join(tmpdir(), 'restore-drill-notdir-'));
      cleanups.push(() => rm(root, { recursive: true, force: true }));
      await writeFile(join(root, 'file'), 'not a folder');
      const error = await openError(
        openEvidenceStore({ embeddedDir: join(root, 'file', 'evidence'), log: silentLogger() }),
      );
      expect(error.message).toMatch(
        new RegExp(
          `^cannot open evidence database ${join(root, 'file', 'evidence', 'pgdata')}: .*ENOTDIR`,
        ),
      );
    },
    SLOW_STORE_MS,
  );
});

describe('openEvidenceStore, PostgreSQL', () => {
  const server = inject('postgres');
  const unusedDir = join(tmpdir(), 'restore-drill-never-created');

  it('names the server and database, never the password, when the server is unreachable', async () => {
    const closed = await closedPort();
    const url = `postgres://drill:Sup3r-secret@127.0.0.1:${closed}/evidence`;
    const error = await openError(
      openEvidenceStore({ url, embeddedDir: unusedDir, log: silentLogger() }),
    );
    expect(error.code).toBe('open-failed');
    expect(error.message).toMatch(
      new RegExp(
        `^cannot connect to evidence database postgres://drill@127\\.0\\.0\\.1:${closed}/evidence: .*ECONNREFUSED`,
      ),
    );
    expect(error.message).not.toContain('Sup3r-secret');
    expect(error.message).not.toContain('\n');
    expect(await exists(unusedDir)).toBe(false);
  });

  it('names a database that does not exist, never the password', async () => {
    const url = `postgres://postgres:An0ther-secret@${server.host}:${server.port}/no_such_db`;
    const error = await openError(
      openEvidenceStore({ url, embeddedDir: unusedDir, log: silentLogger() }),
    );
    expect(error.message).toBe(
      `cannot connect to evidence database postgres://postgres@${server.host}:${server.port}/no_such_db: database "no_such_db" does not exist`,
    );
  });

  it('refuses a URL that does not parse, without echoing it', async () => {
    const error = await openError(
      openEvidenceStore({
        url: 'postgres://drill:Th1rd secret@[bad/x',
        embeddedDir: unusedDir,
        log: silentLogger(),
      }),
    );
    expect(error.message).toBe(
      'database.url is not a valid URL (not shown, it may hold a password); expected postgres://user:password@host:port/database',
    );
  });

  it('opens a real server and reports the postgres dialect', async () => {
    const url = await createTestDatabase();
    const store = await openEvidenceStore({ url, embeddedDir: unusedDir, log: silentLogger() });
    try {
      expect(store.dialect).toBe('postgres');
    } finally {
      await store.close();
      await store.close();
    }
    expect(await exists(unusedDir)).toBe(false);
  });
});

describe('openEvidenceStore, PostgreSQL connection loss', () => {
  it('logs a lost idle connection instead of crashing, and keeps working on a new one', async () => {
    const url = await createTestDatabase();
    const lines: string[] = [];
    const log = pino(
      { level: 'warn' },
      new Writable({ write: (chunk, _encoding, done) => (lines.push(String(chunk)), done()) }),
    );
    const store = await openEvidenceStore({
      url,
      embeddedDir: join(tmpdir(), 'restore-drill-never-created'),
      log,
    });
    try {
      await sql`select 1`.execute(store.db);
      const admin = new pg.Client({ connectionString: inject('postgres').adminUrl });
      await admin.connect();
      try {
        const database = new URL(url).pathname.slice(1);
        const killed = await admin.query(
          'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1',
          [database],
        );
        expect(killed.rowCount).toBeGreaterThan(0);
      } finally {
        await admin.end();
      }
      await vi.waitFor(
        () => expect(lines.join('')).toContain('evidence database connection lost'),
        { timeout: 10_000 },
      );
      expect(JSON.parse(lines[0]!)).toMatchObject({
        level: 40,
        database: expect.stringContaining('postgres://postgres@127.0.0.1:'),
      });
      const after = await sql<{ one: number }>`select 1 as one`.execute(store.db);
      expect(after.rows).toEqual([{ one: 1 }]);
    } finally {
      await store.close();
    }
  });
});

describe('describePostgresUrl', () => {
  it('keeps user, host, port and database and drops the password, which the redactor then masks', () => {
    expect(
      describePostgresUrl(
        'postgresql://ops:F0urth%20secret@db.example:6543/evidence?sslmode=require',
      ),
    ).toBe('postgresql://ops@db.example:6543/evidence');
    expect(redactor.redact('oops: F0urth secret')).toBe('oops: ****');
  });

  it('fills in the defaults node-postgres uses', () => {
    expect(describePostgresUrl('postgres://db.example')).toBe(
      'postgres://db.example:5432/postgres',
    );
    expect(describePostgresUrl('postgres://ops@db.example/')).toBe(
      'postgres://ops@db.example:5432/ops',
    );
    expect(describePostgresUrl('postgres:///evidence?host=/run/postgresql')).toBe(
      'postgres://(socket /run/postgresql):5432/evidence',
    );
  });
});

async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolvePort) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        resolvePort(typeof address === 'object' && address !== null ? address.port : 1),
      );
    });
  });
}

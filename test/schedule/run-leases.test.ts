import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import { createRunLeases, type RunOwner } from '../../src/schedule/run-leases.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { openTestStore, type TestStore } from '../helpers/test-store.js';

const projectRoot = path.resolve(import.meta.dirname, '../..');

function owner(overrides: Partial<RunOwner> = {}): RunOwner {
  return { runId: randomUUID(), host: 'other-host', pid: 4242, ...overrides };
}

/** Polls `check` until it is true; fails after `ms`. */
async function eventually(check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(100);
  }
}

describe('run leases on pglite', () => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore('pglite');
  }, SLOW_STORE_MS);
  afterAll(() => t?.cleanup(), SLOW_STORE_MS);

  it("counts only this process's held runs as alive: PGlite has one process", async () => {
    const leases = t.leases();
    expect(leases.kind).toBe('in-process');
    const mine = owner({ host: hostname(), pid: process.pid });
    const release = await leases.hold(mine.runId);
    // Even a live pid on this host is not an owner: nothing else can hold the embedded database.
    const other = owner({ host: hostname(), pid: process.ppid });
    expect(await leases.alive([mine, other], t.store.db)).toEqual(new Set([mine.runId]));
    expect(leases.held()).toEqual(new Set([mine.runId]));
    await release();
    await release();
    expect(await leases.alive([mine], t.store.db)).toEqual(new Set());
  });
});

describe('run leases on postgres', () => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore('postgres');
  }, SLOW_STORE_MS);
  afterAll(() => t?.cleanup(), SLOW_STORE_MS);

  it("sees another process's lease as alive, and not once that process's session is gone", async () => {
    const mine = t.leases();
    const theirs = t.leases();
    expect(mine.kind).toBe('advisory-lock');
    const run = owner();
    await theirs.hold(run.runId);
    expect(await mine.alive([run], t.store.db)).toEqual(new Set([run.runId]));
    await theirs.close();
    expect(await mine.alive([run], t.store.db)).toEqual(new Set());
  });

  it('gives the lease back on release', async () => {
    const mine = t.leases();
    const observer = t.leases();
    const run = owner();
    const release = await mine.hold(run.runId);
    expect(await observer.alive([run], t.store.db)).toEqual(new Set([run.runId]));
    await release();
    expect(await observer.alive([run], t.store.db)).toEqual(new Set());
  });

  it('sees the lease of a process killed with SIGKILL released by the server', async () => {
    const run = owner();
    const child = spawn(
      process.execPath,
      [
        path.join(projectRoot, 'test/helpers/run-ts.mjs'),
        path.join(import.meta.dirname, 'fixtures/hold-lease-child.ts'),
        t.url as string,
        run.runId,
      ],
      {
        cwd: projectRoot,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout
          ?.setEncoding('utf8')
          .on('data', (text: string) => text.includes('held') && resolve());
        child.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
      });
      const observer = t.leases();
      expect(await observer.alive([run], t.store.db)).toEqual(new Set([run.runId]));
      child.kill('SIGKILL');
      await eventually(async () => (await observer.alive([run], t.store.db)).size === 0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('never takes a run of a live process on this host for dead, lease or not', async () => {
    const observer = t.leases();
    const parent = owner({ host: hostname(), pid: process.ppid });
    const gone = owner({ host: hostname(), pid: 2 ** 22 + 17 });
    expect(await observer.alive([parent, gone], t.store.db)).toEqual(new Set([parent.runId]));
  });

  it('re-opens a lost lease connection and takes its running leases again', async () => {
    const lines: string[] = [];
    const log = pino(
      { level: 'debug' },
      new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }),
    );
    const leases = createRunLeases({ dialect: 'postgres', url: t.url, log });
    const observer = t.leases();
    const run = owner();
    try {
      await leases.hold(run.runId);
      await sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'restore-drill run leases' and pid <> pg_backend_pid()`.execute(
        t.store.db,
      );
      await eventually(async () =>
        lines.some((line) => line.includes('run lease connection lost')),
      );
      await eventually(async () => (await observer.alive([run], t.store.db)).has(run.runId));
    } finally {
      await leases.close();
    }
  }, 60_000);

  it('refuses a new lease once closed, and names why a lease connection cannot open', async () => {
    const leases = t.leases();
    await leases.close();
    await expect(leases.hold(randomUUID())).rejects.toThrow('run leases are closed');
    const unreachable = createRunLeases({
      dialect: 'postgres',
      url: 'postgres://nobody:secret-pw@127.0.0.1:1/none',
      log: silentLogger(),
    });
    const failure = await unreachable.hold(randomUUID()).catch((error: unknown) => error as Error);
    expect((failure as Error).message).toMatch(/^cannot open the run lease connection: /);
    expect((failure as Error).message).not.toContain('secret-pw');
    await unreachable.close();
  });

  it('needs the URL on postgres', () => {
    expect(() =>
      createRunLeases({ dialect: 'postgres', url: undefined, log: silentLogger() }),
    ).toThrow('run leases on PostgreSQL need the database URL');
  });
});

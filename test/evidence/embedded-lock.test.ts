import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireEmbeddedLock } from '../../src/evidence/embedded-lock.js';
import {
  ownProcessIdentity,
  processIdentityOf,
  type ProcessIdentity,
} from '../../src/exec/process-identity.js';
import { runCommand } from '../../src/exec/run-command.js';
import { silentLogger } from '../../src/log/logger.js';
import { makeZombie, startSleeper } from '../helpers/processes.js';

let dir: string;
let lockPath: string;
const dataDir = '/srv/evidence/pgdata';

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'restore-drill-lock-'));
  lockPath = join(dir, 'lock');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function acquire() {
  return acquireEmbeddedLock({ lockPath, dataDir, log: silentLogger() });
}

async function deadPid(): Promise<number> {
  const result = await runCommand('sh', ['-c', 'echo $$']);
  return Number(result.stdout.trim());
}

async function readHolder(): Promise<unknown> {
  return JSON.parse(await readFile(lockPath, 'utf8'));
}

/** A lock file left by `pid` on this host; without an identity, in the old pid-only format. */
async function writeLockOf(pid: number, identity: Partial<ProcessIdentity> = {}): Promise<void> {
  await writeFile(lockPath, JSON.stringify({ pid, host: hostname(), since: 'then', ...identity }));
}

async function expectTakenOver(): Promise<void> {
  const lock = await acquire();
  expect(await readHolder()).toEqual(lock.holder);
  lock.release();
}

describe('acquireEmbeddedLock', () => {
  it('writes pid, host, start time and process identity, and removes the file on release (once)', async () => {
    const lock = await acquire();
    const own = ownProcessIdentity();
    expect(own.processStart).toBeGreaterThan(0);
    expect(await readHolder()).toEqual({
      pid: process.pid,
      host: hostname(),
      since: lock.holder.since,
      processStart: own.processStart,
      bootId: own.bootId,
    });
    expect(Date.parse(lock.holder.since)).toBeGreaterThan(Date.now() - 60_000);
    lock.release();
    await expect(readFile(lockPath)).rejects.toThrow(/ENOENT/);
    lock.release();
  });

  it('refuses while held by a live process, naming the holder and the way out', async () => {
    const lock = await acquire();
    try {
      await expect(acquire()).rejects.toThrow(
        `evidence database ${dataDir} is in use by pid ${process.pid} (this process) on host ${hostname()} since ${lock.holder.since}; ` +
          'embedded PGlite is single-process: stop that process or configure database.url',
      );
    } finally {
      lock.release();
    }
  });

  it('does not delete a lock that another process took over meanwhile', async () => {
    const lock = await acquire();
    const successor = JSON.stringify({
      pid: 1,
      host: hostname(),
      since: '2030-01-01T00:00:00.000Z',
    });
    await writeFile(lockPath, successor);
    lock.release();
    expect(await readFile(lockPath, 'utf8')).toBe(successor);
  });

  it('takes over the lock of a dead process', async () => {
    await writeFile(
      lockPath,
      JSON.stringify({ pid: await deadPid(), host: hostname(), since: '2024-01-01T00:00:00.000Z' }),
    );
    const lock = await acquire();
    expect(await readHolder()).toEqual(lock.holder);
    lock.release();
  });

  it('refuses a lock held by another live process with its recorded identity', async () => {
    const holder = startSleeper();
    const identity = processIdentityOf(holder.pid);
    expect(identity?.processStart).toBeGreaterThan(0);
    await writeLockOf(holder.pid, identity ?? {});
    await expect(acquire()).rejects.toThrow(
      `evidence database ${dataDir} is in use by pid ${holder.pid} on host ${hostname()} since then; `,
    );
  });

  it('refuses a lock of the old format (pid only) while that pid lives', async () => {
    const holder = startSleeper();
    await writeLockOf(holder.pid);
    await expect(acquire()).rejects.toThrow(`is in use by pid ${holder.pid} on host`);
  });

  it('takes over the lock of a holder that is a zombie (killed, never reaped)', async () => {
    const zombie = await makeZombie();
    // A zombie still answers signal 0: a pid-only check would refuse forever.
    expect(() => process.kill(zombie, 0)).not.toThrow();
    await writeLockOf(zombie);
    await expectTakenOver();
  });

  it('takes over a lock whose pid now belongs to another program (start ticks differ)', async () => {
    const other = startSleeper();
    const identity = processIdentityOf(other.pid);
    const processStart = (identity?.processStart ?? 0) + 1;
    await writeLockOf(other.pid, { processStart, bootId: identity?.bootId ?? null });
    await expectTakenOver();
  });

  it('takes over a lock written in another boot whose pid is alive now', async () => {
    const other = startSleeper();
    const identity = processIdentityOf(other.pid);
    const bootId = '00000000-0000-0000-0000-000000000000';
    await writeLockOf(other.pid, { processStart: identity?.processStart ?? null, bootId });
    await expectTakenOver();
  });

  it('lets exactly one of several simultaneous takers have a dead process’s lock', async () => {
    await writeFile(
      lockPath,
      JSON.stringify({ pid: await deadPid(), host: hostname(), since: '2024-01-01T00:00:00.000Z' }),
    );
    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => acquire()));
    const winners = outcomes.filter((o) => o.status === 'fulfilled');
    expect(winners).toHaveLength(1);
    for (const loser of outcomes.filter((o) => o.status === 'rejected')) {
      expect(String(loser.reason)).toMatch(`is in use by pid ${process.pid} (this process)`);
    }
    (winners[0] as PromiseFulfilledResult<{ release(): void }>).value.release();
  });

  it('waits for a lock file that is still being written', async () => {
    await writeFile(lockPath, '');
    setTimeout(
      () =>
        void writeFile(
          lockPath,
          JSON.stringify({ pid: process.pid, host: hostname(), since: 'then' }),
        ),
      120,
    );
    await expect(acquire()).rejects.toThrow(
      `is in use by pid ${process.pid} (this process) on host ${hostname()} since then`,
    );
  });

  it('refuses an unreadable lock file, naming it', async () => {
    await writeFile(lockPath, 'garbage');
    await expect(acquire()).rejects.toThrow(
      `evidence database ${dataDir} has an unreadable lock file ${lockPath}; if no restore-drill process uses that folder, delete the lock file`,
    );
    expect(await readFile(lockPath, 'utf8')).toBe('garbage');
  });

  it('registers an exit hook that releases the lock, and drops it on release', async () => {
    // A real exiting process is covered in open-store.test.ts; this checks the hook itself.
    const before = process.listenerCount('exit');
    const lock = await acquire();
    expect(process.listenerCount('exit')).toBe(before + 1);
    const hook = process.listeners('exit').at(-1) as () => void;
    hook();
    await expect(readFile(lockPath)).rejects.toThrow(/ENOENT/);
    expect(process.listenerCount('exit')).toBe(before);
    lock.release();
  });
});

import { existsSync, readFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { runDrill } from '../../src/drill/run-drill.js';
import type { RunRecord } from '../../src/evidence/run-record.js';
import { getRun } from '../../src/evidence/runs.js';
import { silentLogger } from '../../src/log/logger.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { startFlakyProxy, type FlakyProxy } from '../helpers/flaky-proxy.js';
import { pgDump, query, scratchDatabases } from '../helpers/pg-dumps.js';
import { createTestDatabase } from '../helpers/test-database.js';
import { TEST_RESTIC_PASSWORD } from '../helpers/restic-repo.js';
import { S3RVER_CREDENTIALS, startS3Server, type S3TestServer } from '../helpers/s3-server.js';
import { tempDir } from '../helpers/temp.js';
import { openTestStore, type TestStore } from '../helpers/test-store.js';

const FAKE_RESTIC = fileURLToPath(new URL('../fixtures/bin/fake-restic', import.meta.url));
const PG_RESTORE_HANGS = fileURLToPath(
  new URL('../fixtures/bin/pg-restore-hangs', import.meta.url),
);

/**
 * The drill's `timeout` ends every source kind's restore whatever it is doing (a child process,
 * a stream): the run is recorded as timed_out, the tool and its children are gone, scratch is removed.
 * An abort (what SIGINT and SIGTERM do; test/cli/run-signals.test.ts drives the signals) does the
 * same and records aborted.
 */
let t: TestStore;
let base: string;
let scratchRoot: string;
let s3: S3TestServer;
const proxies: FlakyProxy[] = [];

beforeAll(async () => {
  [t, s3] = await Promise.all([openTestStore('postgres'), startS3Server()]);
  base = await tempDir('restore-drill-stops-');
  scratchRoot = path.join(base, 'scratch');
}, SLOW_STORE_MS);
afterAll(async () => {
  await Promise.all(proxies.map((proxy) => proxy.close()));
  await s3?.stop();
  await t?.cleanup();
}, SLOW_STORE_MS);

/** Gone, or a zombie not reaped yet (dead all the same): read from /proc. */
function processGone(pid: number): boolean {
  const file = `/proc/${pid}/stat`;
  if (!existsSync(file)) return true;
  try {
    const stat = readFileSync(file, 'utf8');
    // The name may hold spaces and parentheses: the state is the field after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** Polls `check` until true; fails after `ms`. */
async function eventually(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(50);
  }
}

/** Runs a one-drill config through runDrill until it finishes; `timeout` is the drill's. */
async function runOneDrill(
  name: string,
  source: Record<string, unknown>,
  timeout: string,
  signal?: AbortSignal,
): Promise<RunRecord> {
  const text = stringify({
    scratch: { root: scratchRoot },
    drills: [{ name, timeout, source, checks: { files: { min: 1 } } }],
  });
  const loaded = parseConfig(text, path.join(base, 'restore-drill.yaml'), {}, base);
  const [config] = loaded.config.drills;
  if (!config) throw new Error('no drill');
  const result = await runDrill({
    drill: config,
    config: loaded.config,
    configDir: loaded.dir,
    db: t.store.db,
    log: silentLogger(),
    trigger: 'manual',
    ...(signal ? { signal } : {}),
  });
  if (result.status !== 'finished') throw new Error('expected a finished run');
  return result.record;
}

/** Scratch folders of drill `name` still there. */
async function scratchOf(name: string): Promise<string[]> {
  return (await readdir(scratchRoot).catch(() => [])).filter((entry) =>
    entry.startsWith(`${name}-`),
  );
}

/** Runs a one-drill config with a `timeoutMs` timeout through runDrill; the run must end timed_out. */
async function timedOutDrill(
  name: string,
  source: Record<string, unknown>,
  timeoutMs = 1500,
): Promise<RunRecord> {
  const record = await runOneDrill(name, source, `${timeoutMs}ms`);
  expect(record).toMatchObject({
    verdict: 'timed_out',
    cause: `timeout: drill exceeded its timeout of ${timeoutMs} ms`,
  });
  expect((await getRun(t.store.db, record.runId))?.record.verdict).toBe('timed_out');
  expect(await scratchOf(name)).toEqual([]);
  return record;
}

/**
 * Runs a one-drill config with a ten-minute timeout and aborts it, as SIGINT and SIGTERM do,
 * once `restoring` resolves: the run must end aborted.
 */
async function abortedDrill(
  name: string,
  source: Record<string, unknown>,
  restoring: () => Promise<void>,
): Promise<RunRecord> {
  const controller = new AbortController();
  const run = runOneDrill(name, source, '10m', controller.signal);
  await Promise.race([restoring(), run]);
  controller.abort(new Error('received SIGTERM'));
  const record = await run;
  expect(record).toMatchObject({
    verdict: 'aborted',
    cause: 'aborted: stopped before it finished: received SIGTERM',
  });
  expect((await getRun(t.store.db, record.runId))?.record.verdict).toBe('aborted');
  expect(await scratchOf(name)).toEqual([]);
  return record;
}

async function pidsIn(file: string): Promise<number[]> {
  return (await readFile(file, 'utf8')).trim().split('\n').map(Number);
}

describe('the drill timeout stops every source kind', () => {
  it('restic: kills restic restore and its child', async () => {
    const pidFile = path.join(base, 'restic.pids');
    await timedOutDrill(
      'restic-hangs',
      {
        kind: 'restic',
        repository: path.join(base, 'fake-repo'),
        password: TEST_RESTIC_PASSWORD,
        binary: FAKE_RESTIC,
        env: { FAKE_RESTIC_MODE: 'hang-restore', FAKE_RESTIC_PIDFILE: pidFile },
      },
      // Room for restic version and snapshots first on a loaded machine.
      3_000,
    );
    const pids = await pidsIn(pidFile);
    expect(pids).toHaveLength(2);
    await eventually(() => pids.every(processGone));
  });

  it('postgres: kills pg_restore and its child, and drops the scratch database', async () => {
    const dumps = path.join(base, 'dumps');
    await mkdir(dumps, { recursive: true });
    // The fake pg_restore hangs whatever the dump holds: one small table is enough to list.
    const database = await createTestDatabase();
    await query(
      database,
      'create table accounts (id int primary key); insert into accounts values (1), (2)',
    );
    const dump = await pgDump(database, 'c', path.join(dumps, 'app.dump'));
    const { adminUrl } = inject('postgres');
    await timedOutDrill(
      'pg-hangs',
      {
        kind: 'postgres',
        path: path.join(dumps, '*.dump'),
        pgRestore: PG_RESTORE_HANGS,
        scratchServer: { url: adminUrl },
      },
      // Room for pg_restore -l and the scratch database first: at 1.5 s a loaded machine
      // (load 16) timed the drill out before pg_restore started.
      3_000,
    );
    const pids = await pidsIn(`${dump}.pids`);
    expect(pids).toHaveLength(2);
    await eventually(() => pids.every(processGone));
    expect(
      (await scratchDatabases(adminUrl)).filter((name) =>
        name.startsWith('restore_drill_pg_hangs'),
      ),
    ).toEqual([]);
  });

  it('tar: stops streaming an archive whose one entry is 8 GiB', async () => {
    // A ustar header for an 8 GiB file, then holes: the archive takes no room and reads fast,
    // and extracting it would take minutes.
    const sets = path.join(base, 'tar-sets');
    await mkdir(sets, { recursive: true });
    const file = path.join(sets, 'huge.tar');
    const size = 8 * 1024 ** 3 - 1;
    const header = Buffer.alloc(512);
    header.write('big.bin', 0);
    header.write('0000644\0', 100);
    header.write('0000000\0', 108);
    header.write('0000000\0', 116);
    header.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
    header.write('00000000000\0', 136);
    header.write('0', 156);
    header.write('ustar\u000000', 257);
    header.write('        ', 148);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    const handle = await open(file, 'w');
    try {
      await handle.write(header, 0, 512, 0);
      await handle.truncate(512 + Math.ceil(size / 512) * 512 + 1024);
    } finally {
      await handle.close();
    }
    const record = await timedOutDrill('tar-huge', { kind: 'tar', path: path.join(sets, '*.tar') });
    // It was restoring (the set chosen, scratch reserved) when the timeout came.
    expect(record.set?.path).toBe(file);
    expect(record.restored.files).toBe(0);
  });

  it('s3: stops downloads that stall mid-body, closing their connections', async () => {
    const { via, source, setPath } = await stallingS3('stops-timeout');
    const record = await timedOutDrill('s3-stalls', source, 5_000);
    expect(record.set?.path).toBe(setPath);
    // The timeout came mid-download: objects were being read, and those connections are closed.
    expect(via.log.some((entry) => entry.method === 'GET' && entry.key !== null)).toBe(true);
    expect(via.maxInFlight.GET).toBeGreaterThan(0);
    expect(record.restored.files).toBe(0);
    await eventually(() => (via.inFlight.GET ?? 0) === 0);
  });

  it('directory: stops copying a 64 GiB file', async () => {
    const set = await hugeDirectorySet('dir-huge-timeout');
    const record = await timedOutDrill('dir-huge', directorySource(set));
    expect(record.set?.path).toBe(set);
    expect(record.restored.files).toBe(0);
  });
});

describe('an abort (SIGINT, SIGTERM) stops every source kind mid-restore', () => {
  it('s3: stops downloads that stall mid-body, closing their connections', async () => {
    const { via, restoring, source, setPath } = await stallingS3('stops-abort');
    const record = await abortedDrill('s3-abort', source, () => restoring);
    expect(record.set?.path).toBe(setPath);
    expect(via.maxInFlight.GET).toBeGreaterThan(0);
    expect(record.restored.files).toBe(0);
    await eventually(() => (via.inFlight.GET ?? 0) === 0);
  });

  it('directory: stops copying a 64 GiB file once its first bytes are in scratch', async () => {
    const set = await hugeDirectorySet('dir-huge-abort');
    const record = await abortedDrill('dir-abort', directorySource(set), () =>
      eventually(async () => {
        for (const folder of await scratchOf('dir-abort')) {
          const copy = path.join(scratchRoot, folder, 'big.bin');
          if (((await stat(copy).catch(() => null))?.size ?? 0) > 0) return true;
        }
        return false;
      }),
    );
    expect(record.set?.path).toBe(set);
    expect(record.restored.files).toBe(0);
  });
});

/**
 * A set of eight objects in `bucket` behind a proxy that sends each object's headers and
 * first KiB, then goes silent: with the source's ten-minute timeout the restore would wait
 * for minutes. `restoring` resolves when the first object download starts.
 */
async function stallingS3(bucket: string): Promise<{
  via: FlakyProxy;
  restoring: Promise<void>;
  source: Record<string, unknown>;
  setPath: string;
}> {
  await s3.createBucket(bucket);
  for (let index = 0; index < 8; index++)
    await s3.put(bucket, `nightly/2026-12-01/part-${index}.bin`, Buffer.alloc(256 * 1024, index));
  let started: () => void = () => undefined;
  const restoring = new Promise<void>((resolve) => (started = resolve));
  const via = await startFlakyProxy(s3.endpoint, (request) => {
    if (request.method !== 'GET' || request.key === null) return { kind: 'pass' };
    started();
    return { kind: 'stall-body', afterBytes: 1024 };
  });
  proxies.push(via);
  const source = {
    kind: 's3',
    bucket,
    prefix: 'nightly/',
    endpoint: via.endpoint,
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    checksums: { request: 'WHEN_REQUIRED', response: 'WHEN_REQUIRED' },
    layout: 'prefixes',
    timeout: '10m',
  };
  return { via, restoring, source, setPath: `s3://${bucket}/nightly/2026-12-01/` };
}

/**
 * A set folder under `name` holding one sparse 64 GiB file: it takes no room and reads
 * fast, and copying it into scratch would take minutes.
 */
async function hugeDirectorySet(name: string): Promise<string> {
  const set = path.join(base, name, '2026-12-01');
  await mkdir(set, { recursive: true });
  const handle = await open(path.join(set, 'big.bin'), 'w');
  try {
    await handle.truncate(64 * 1024 ** 3);
  } finally {
    await handle.close();
  }
  return set;
}

function directorySource(set: string): Record<string, unknown> {
  return { kind: 'directory', path: path.join(path.dirname(set), '*') };
}

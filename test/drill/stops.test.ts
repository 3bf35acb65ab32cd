import { existsSync, readFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile } from 'node:fs/promises';
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
import { createPgbenchDatabase, pgDump, scratchDatabases } from '../helpers/pg-dumps.js';
import { TEST_RESTIC_PASSWORD } from '../helpers/restic-repo.js';
import { tempDir } from '../helpers/temp.js';
import { openTestStore, type TestStore } from '../helpers/test-store.js';

const FAKE_RESTIC = fileURLToPath(new URL('../fixtures/fake-restic.mjs', import.meta.url));
const PG_RESTORE_HANGS = fileURLToPath(
  new URL('../fixtures/bin/pg-restore-hangs', import.meta.url),
);

/**
 * The drill's `timeout` ends every source kind's restore whatever it is doing (a child process,
 * a stream): the run is recorded as timed_out, the tool and its children are gone, scratch is removed.
 */
let t: TestStore;
let base: string;
let scratchRoot: string;

beforeAll(async () => {
  t = await openTestStore('postgres');
  base = await tempDir('restore-drill-stops-');
  scratchRoot = path.join(base, 'scratch');
}, SLOW_STORE_MS);
afterAll(async () => {
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

/** Runs a one-drill config with a `timeoutMs` timeout through runDrill; the run must end timed_out. */
async function timedOutDrill(
  name: string,
  source: Record<string, unknown>,
  timeoutMs = 1500,
): Promise<RunRecord> {
  const text = stringify({
    scratch: { root: scratchRoot },
    drills: [{ name, timeout: `${timeoutMs}ms`, source, checks: { files: { min: 1 } } }],
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
  });
  if (result.status !== 'finished') throw new Error('expected a finished run');
  expect(result.record).toMatchObject({
    verdict: 'timed_out',
    cause: `timeout: drill exceeded its timeout of ${timeoutMs} ms`,
  });
  expect((await getRun(t.store.db, result.record.runId))?.record.verdict).toBe('timed_out');
  expect((await readdir(scratchRoot)).filter((entry) => entry.startsWith(`${name}-`))).toEqual([]);
  return result.record;
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
      // Room for restic version and snapshots first (three node starts) on a loaded machine.
      8_000,
    );
    const pids = await pidsIn(pidFile);
    expect(pids).toHaveLength(2);
    await eventually(() => pids.every(processGone));
  });

  it('postgres: kills pg_restore and its child, and drops the scratch database', async () => {
    const dumps = path.join(base, 'dumps');
    await mkdir(dumps, { recursive: true });
    const dump = await pgDump(await createPgbenchDatabase(), 'c', path.join(dumps, 'app.dump'));
    const { adminUrl } = inject('postgres');
    await timedOutDrill('pg-hangs', {
      kind: 'postgres',
      path: path.join(dumps, '*.dump'),
      pgRestore: PG_RESTORE_HANGS,
      scratchServer: { url: adminUrl },
    });
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
});

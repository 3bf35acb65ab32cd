import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drillRequest } from '../helpers/drill-request.js';
import { parseConfig, type LoadedConfig } from '../../src/config/load.js';
import { runDrill, type RunDrillRequest, type RunGate } from '../../src/drill/run-drill.js';
import { getRun, recordRunStart } from '../../src/evidence/runs.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { configText, makeDirectorySet, type FixtureDrill } from '../helpers/drill-fixture.js';
import { pidAlive } from '../helpers/daemon-process.js';
import { hookedSource } from '../helpers/hook-source.js';
import { tempDir } from '../helpers/temp.js';
import { openTestStore, type TestStore } from '../helpers/test-store.js';

/** Polls `check` until true; fails after `ms`. */
async function eventually(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(50);
  }
}

describe('runDrill: scratch guard, free space, timeouts and the start gate', () => {
  let t: TestStore;
  let base: string;
  let backups: string;
  let scratch: string;

  beforeAll(async () => {
    t = await openTestStore('postgres');
    base = await tempDir('restore-drill-run-drill-');
    backups = path.join(base, 'backups');
    scratch = path.join(base, 'scratch');
  }, SLOW_STORE_MS);
  afterAll(() => t?.cleanup(), SLOW_STORE_MS);

  function load(
    drills: FixtureDrill[],
    extra: { scratchRoot?: string; daemon?: Record<string, unknown> } = {},
  ): LoadedConfig {
    const text = configText({
      backupsDir: backups,
      scratchRoot: extra.scratchRoot ?? scratch,
      drills,
      ...(extra.daemon ? { daemon: extra.daemon } : {}),
    });
    return parseConfig(text, path.join(base, 'restore-drill.yaml'), {}, base);
  }

  function request(
    loaded: LoadedConfig,
    name: string,
    overrides: Partial<RunDrillRequest> = {},
  ): RunDrillRequest {
    return drillRequest(loaded, name, t.store.db, { createSource: hookedSource, ...overrides });
  }

  async function scratchFolders(): Promise<string[]> {
    return readdir(scratch).catch(() => []);
  }

  it('refuses a scratch root inside a source path before making anything there, and records the error', async () => {
    await makeDirectorySet(backups, 'guarded');
    const inside = path.join(backups, 'guarded', 'scratch');
    const result = await runDrill(
      request(load([{ name: 'guarded' }], { scratchRoot: inside }), 'guarded'),
    );
    expect(result.status).toBe('finished');
    if (result.status !== 'finished') return;
    expect(result.record.verdict).toBe('error');
    expect(result.record.cause).toBe(
      `scratch.unusable: scratch root ${inside} is inside the source path ${path.join(backups, 'guarded')}; scratch must not overlap the backups it restores`,
    );
    expect(result.record.scratchDir).toBeNull();
    expect(await readdir(path.join(backups, 'guarded'))).toEqual(['2026-03-01']);
  });

  it('fails the drill with a clear message when scratch has no room for the sample times the margin', async () => {
    await makeDirectorySet(backups, 'too-big');
    const loaded = load([{ name: 'too-big', sample: { size: 2 } }], {
      daemon: { scratchMargin: 1e15 },
    });
    const result = await runDrill(request(loaded, 'too-big'));
    if (result.status !== 'finished') throw new Error('expected a finished run');
    expect(result.record.verdict).toBe('error');
    expect(result.record.cause).toMatch(
      /^scratch\.full: scratch full: needed at least .+, .+ free on .*too-big-\d{8}T\d{6}Z-[0-9a-f]{8} \(expected 12 B × scratch margin 1000000000000000 \+ floor .+ \(scratch.minFree\); /,
    );
    expect(result.record.restored).toEqual({ files: 0, bytes: 0 });
    expect((await scratchFolders()).filter((name) => name.startsWith('too-big-'))).toEqual([]);
  });

  /** A folder drill whose `files` check wants `files`, then a verifier that cannot start, then `bytes`. */
  async function withBrokenVerifier(name: string, files: Record<string, number>) {
    await makeDirectorySet(backups, name);
    const text = stringify({
      scratch: { root: scratch },
      drills: [
        {
          name,
          source: { kind: 'directory', path: path.join(backups, name, '*') },
          checks: {
            files,
            bytes: { min: 1 },
            commands: [{ name: 'verify', argv: ['no-such-verifier-here', '{scratch}'] }],
          },
        },
      ],
    });
    const loaded = parseConfig(text, path.join(base, 'restore-drill.yaml'), {}, base);
    const result = await runDrill(request(loaded, name));
    if (result.status !== 'finished') throw new Error('expected a finished run');
    return result.record;
  }

  it('records a verifier that cannot start as error (check.broken), keeping its attempt in the commands', async () => {
    const record = await withBrokenVerifier('broken-verifier', { min: 1 });
    expect(record.verdict).toBe('error');
    expect(record.cause).toBe(
      'check.broken: command:verify: cannot start "no-such-verifier-here": spawn no-such-verifier-here ENOENT',
    );
    // Every other check still judged; the broken one says why it could not.
    expect(record.checks.map((check) => [check.name, check.verdict])).toEqual([
      ['restore', 'passed'],
      ['files', 'passed'],
      ['bytes', 'passed'],
      ['command:verify', 'warning'],
    ]);
    expect(record.checks[3]?.detail).toBe(
      'could not judge: cannot start "no-such-verifier-here": spawn no-such-verifier-here ENOENT',
    );
    expect(record.commands).toEqual([
      expect.objectContaining({
        command: expect.stringMatching(/^no-such-verifier-here \S+broken-verifier-/) as unknown,
        exitCode: null,
      }),
    ]);
  });

  it('fails, not errors, when a check failed beside a verifier that could not start', async () => {
    const record = await withBrokenVerifier('failed-and-broken', { exact: 99 });
    expect(record.verdict).toBe('failed');
    expect(record.cause).toMatch(/^check\.failed: files: /);
    expect(record.checks.map((check) => [check.name, check.verdict])).toEqual([
      ['restore', 'passed'],
      ['files', 'failed'],
      ['bytes', 'passed'],
      ['command:verify', 'warning'],
    ]);
    expect(record.commands).toEqual([expect.objectContaining({ exitCode: null })]);
  });

  it('passes when the sample fits, and logs that an unknown size is not checked', async () => {
    await makeDirectorySet(backups, 'fits');
    const lines: string[] = [];
    const log = pino(
      { level: 'debug' },
      new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }),
    );
    const sampled = await runDrill(
      request(load([{ name: 'fits', sample: { size: 2 } }]), 'fits', { log }),
    );
    expect(sampled.status === 'finished' && sampled.record.verdict).toBe('passed');
    expect(lines.some((line) => line.includes('free space in scratch checked'))).toBe(true);
    // Every phase of the pipeline records its own time.
    const timings = sampled.status === 'finished' ? sampled.record.timings : null;
    expect(Object.keys(timings?.phases ?? {})).toEqual([
      'prepare',
      'select',
      'sample',
      'restore',
      'verify',
      'cleanup',
      'record',
    ]);
    const whole = await runDrill(request(load([{ name: 'fits' }]), 'fits', { log }));
    expect(whole.status === 'finished' && whole.record.verdict).toBe('passed');
    expect(
      lines.some((line) =>
        line.includes('expected restore size unknown; free space in scratch not checked'),
      ),
    ).toBe(true);
  });

  it('kills a hanging restore and all its children at the timeout, records timed_out and removes the scratch folder', async () => {
    const pidFile = path.join(base, 'hang.pids');
    // A restore tool that starts a child and a grandchild that would outlive it, then hangs.
    const script = `echo $$ >> ${pidFile}; (sleep 300 & echo $! >> ${pidFile}; wait) & sleep 300 & echo $! >> ${pidFile}; wait`;
    await makeDirectorySet(backups, 'hangs', { preRestore: ['sh', '-c', script] });
    const started = Date.now();
    const result = await runDrill(request(load([{ name: 'hangs', timeout: '1500ms' }]), 'hangs'));
    if (result.status !== 'finished') throw new Error('expected a finished run');
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(result.record.verdict).toBe('timed_out');
    expect(result.record.cause).toBe('timeout: drill exceeded its timeout of 1500 ms');
    expect(result.record.commands).toHaveLength(0);
    const pids = (await readFile(pidFile, 'utf8')).trim().split('\n').map(Number);
    expect(pids.length).toBeGreaterThanOrEqual(3);
    await eventually(() => pids.every((pid) => !pidAlive(pid)));
    expect((await scratchFolders()).filter((name) => name.startsWith('hangs-'))).toEqual([]);
    const stored = await getRun(t.store.db, result.record.runId);
    expect(stored?.record.verdict).toBe('timed_out');
  }, 60_000);

  it('kills a hanging `command` source with its children at the drill timeout, as the real source kind runs it', async () => {
    const pidFile = path.join(base, 'command-hang.pids');
    await makeDirectorySet(backups, 'command-hangs');
    const script = `echo $$ >> ${pidFile}; (sleep 300 & echo $! >> ${pidFile}; wait) & sleep 300 & echo $! >> ${pidFile}; wait`;
    const yaml = stringify({
      scratch: { root: scratch },
      drills: [
        {
          name: 'command-hangs',
          timeout: '1500ms',
          source: {
            kind: 'command',
            sets: { path: path.join(backups, 'command-hangs', '*') },
            restore: ['sh', '-c', script],
          },
        },
      ],
    });
    const loaded = parseConfig(yaml, path.join(base, 'command.yaml'), {}, base);
    const result = await runDrill({ ...request(loaded, 'command-hangs'), createSource: undefined });
    if (result.status !== 'finished') throw new Error('expected a finished run');
    expect(result.record).toMatchObject({
      verdict: 'timed_out',
      cause: 'timeout: drill exceeded its timeout of 1500 ms',
      sourceKind: 'command',
    });
    const pids = (await readFile(pidFile, 'utf8')).trim().split('\n').map(Number);
    expect(pids.length).toBeGreaterThanOrEqual(3);
    await eventually(() => pids.every((pid) => !pidAlive(pid)));
    expect((await scratchFolders()).filter((name) => name.startsWith('command-hangs-'))).toEqual(
      [],
    );
  }, 60_000);

  it('holds the gate from before the start is recorded until after the result is, with one run id', async () => {
    await makeDirectorySet(backups, 'gated');
    const events: string[] = [];
    const gate: RunGate = {
      async hold(runId) {
        events.push(`hold ${runId}`);
        return async () => {
          const stored = await getRun(t.store.db, runId);
          events.push(`release ${runId} ${stored ? 'after result' : 'before result'}`);
        };
      },
      async claim(start) {
        events.push(`claim ${start.runId}`);
        return recordRunStart(t.store.db, start);
      },
    };
    const result = await runDrill(request(load([{ name: 'gated' }]), 'gated', { gate }));
    if (result.status !== 'finished') throw new Error('expected a finished run');
    const id = result.record.runId;
    expect(events).toEqual([`hold ${id}`, `claim ${id}`, `release ${id} after result`]);
  });

  it('does not run when the gate does not claim the start, removes its scratch folder and still releases', async () => {
    await makeDirectorySet(backups, 'refused');
    let released = false;
    const gate: RunGate = {
      hold: async () => async () => {
        released = true;
      },
      claim: async () => false,
    };
    const result = await runDrill(
      request(load([{ name: 'refused' }]), 'refused', {
        gate,
        trigger: 'schedule',
        scheduledFor: new Date('2026-03-01T03:00:00Z'),
      }),
    );
    expect(result).toEqual({ status: 'slot-taken' });
    expect(released).toBe(true);
    expect((await scratchFolders()).filter((name) => name.startsWith('refused-'))).toEqual([]);
  });

  it('releases the gate, removes the scratch folder and does not run when recording the start fails', async () => {
    await makeDirectorySet(backups, 'broken-claim');
    let released = false;
    const gate: RunGate = {
      hold: async () => async () => {
        released = true;
      },
      claim: async () => {
        throw new Error('database went away');
      },
    };
    const loaded = load([{ name: 'broken-claim' }]);
    // No wait for the store (database.waitFor: 0): the claim's failure ends the run at once.
    loaded.config.database.waitFor = 0;
    const result = await runDrill(request(loaded, 'broken-claim', { gate }));
    expect(result).toEqual({
      status: 'not-started',
      drill: 'broken-claim',
      cause:
        'evidence store unavailable for 0ms at the start: database went away; the drill did not run',
    });
    expect(released).toBe(true);
    expect((await scratchFolders()).filter((name) => name.startsWith('broken-claim-'))).toEqual([]);
  });
});

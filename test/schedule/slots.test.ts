import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvidenceStore } from '../../src/evidence/open-store.js';
import { recordRunResult, recordRunStart, type RunStart } from '../../src/evidence/runs.js';
import { silentLogger } from '../../src/log/logger.js';
import { createRunLeases, leaseKey, type RunLeases } from '../../src/schedule/run-leases.js';
import {
  claimSlot,
  drillClaimKey,
  listSkips,
  recordSlotSkip,
  slotTime,
} from '../../src/schedule/slots.js';
import { openEvidenceStore } from '../../src/evidence/open-store.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { makeRecord } from '../helpers/run-records.js';
import { createTestDatabase } from '../helpers/test-database.js';
import { dialects, openTestStore, type TestStore } from '../helpers/test-store.js';

function uniqueDrill(label: string): string {
  return `${label}-${randomUUID().slice(0, 8)}`;
}

function scheduledStart(drill: string, slot: Date, overrides: Partial<RunStart> = {}): RunStart {
  return {
    runId: randomUUID(),
    drill,
    trigger: 'schedule',
    scheduledFor: slot,
    replayOf: null,
    startedAt: new Date(),
    host: hostname(),
    pid: process.pid,
    version: '0.1.0',
    configHash: 'cd'.repeat(32),
    scratchDir: null,
    ...overrides,
  };
}

describe('slotTime', () => {
  it('truncates to the second, so every replica names a slot alike', () => {
    expect(slotTime(new Date('2026-03-01T03:00:00.987Z')).toISOString()).toBe(
      '2026-03-01T03:00:00.000Z',
    );
    expect(slotTime(new Date('2026-03-01T03:00:05.000Z')).toISOString()).toBe(
      '2026-03-01T03:00:05.000Z',
    );
  });

  it('keys the claim lock by drill in its own key space', () => {
    expect(drillClaimKey('a')).not.toBe(drillClaimKey('b'));
    expect(drillClaimKey('a') >> 48n).toBe(0x5253n);
    expect(leaseKey('a') >> 48n).toBe(0x5244n);
  });
});

describe.each(dialects)('slot claims on %s', (dialect) => {
  let testStore: TestStore;
  let store: EvidenceStore;
  let leases: RunLeases;

  beforeAll(async () => {
    testStore = await openTestStore(dialect);
    store = testStore.store;
    leases = testStore.leases();
  }, SLOW_STORE_MS);

  afterAll(() => testStore?.cleanup(), SLOW_STORE_MS);

  it('claims a free slot by recording the start, and the same slot again is taken', async () => {
    const drill = uniqueDrill('claim');
    const slot = new Date('2026-03-01T03:00:00Z');
    const first = scheduledStart(drill, slot);
    expect(await claimSlot(store.db, leases, first)).toEqual({ outcome: 'claimed' });
    const starts = await store.db
      .selectFrom('run_starts')
      .select(['run_id', 'scheduled_for'])
      .where('drill', '=', drill)
      .execute();
    expect(starts).toEqual([{ run_id: first.runId, scheduled_for: slot }]);
    expect(await claimSlot(store.db, leases, scheduledStart(drill, slot))).toEqual({
      outcome: 'taken',
      by: 'run',
    });
    expect(
      await store.db.selectFrom('run_starts').select('run_id').where('drill', '=', drill).execute(),
    ).toHaveLength(1);
  });

  it('skips a slot while a live run of the drill is unfinished, naming that run, and records no start for it', async () => {
    const drill = uniqueDrill('overlap');
    const earlier = scheduledStart(drill, new Date('2026-03-01T03:00:00Z'));
    const release = await leases.hold(earlier.runId);
    try {
      expect(await claimSlot(store.db, leases, earlier)).toEqual({ outcome: 'claimed' });
      const next = scheduledStart(drill, new Date('2026-03-01T03:01:00Z'));
      const outcome = await claimSlot(store.db, leases, next);
      expect(outcome).toMatchObject({
        outcome: 'skipped',
        reason: 'overlap',
        blockingRunId: earlier.runId,
      });
      expect(outcome.outcome === 'skipped' && outcome.detail).toContain(
        `run ${earlier.runId} (slot 2026-03-01T03:00:00.000Z`,
      );
      const skips = await listSkips(store.db, { drill: [drill] });
      expect(skips).toHaveLength(1);
      expect(skips[0]).toMatchObject({
        drill,
        scheduled_for: new Date('2026-03-01T03:01:00Z'),
        reason: 'overlap',
        blocking_run_id: earlier.runId,
        host: hostname(),
        pid: process.pid,
      });
      expect(
        await store.db
          .selectFrom('run_starts')
          .select('run_id')
          .where('drill', '=', drill)
          .execute(),
      ).toEqual([{ run_id: earlier.runId }]);
      // The slot is decided: a later claim finds it taken by the skip.
      expect(
        await claimSlot(store.db, leases, scheduledStart(drill, new Date('2026-03-01T03:01:00Z'))),
      ).toEqual({ outcome: 'taken', by: 'skip' });
    } finally {
      await release();
    }
  });

  it('does not let a run whose owner is gone block the next slot', async () => {
    const drill = uniqueDrill('dead-owner');
    // Another host's run that holds no lease: its process died mid-run.
    const dead = scheduledStart(drill, new Date('2026-03-01T03:00:00Z'), {
      host: 'gone-host',
      pid: 4242,
    });
    expect(await recordRunStart(store.db, dead)).toBe(true);
    expect(
      await claimSlot(store.db, leases, scheduledStart(drill, new Date('2026-03-01T03:01:00Z'))),
    ).toEqual({ outcome: 'claimed' });
  });

  it('does not let a finished run block the next slot', async () => {
    const drill = uniqueDrill('finished');
    const record = makeRecord({
      drill,
      trigger: 'schedule',
      scheduledFor: '2026-03-01T03:00:00.000Z',
    });
    const start = scheduledStart(drill, new Date(record.scheduledFor as string), {
      runId: record.runId,
    });
    const release = await leases.hold(start.runId);
    expect(await claimSlot(store.db, leases, start)).toEqual({ outcome: 'claimed' });
    await recordRunResult(store.db, record, []);
    await release();
    expect(
      await claimSlot(store.db, leases, scheduledStart(drill, new Date('2026-03-01T03:01:00Z'))),
    ).toEqual({ outcome: 'claimed' });
  });

  it('records a skip for a free slot, and a slot with a start or a skip is not skipped again', async () => {
    const drill = uniqueDrill('skip');
    const slot = new Date('2026-03-01T04:00:00.400Z');
    const skipped = await recordSlotSkip(store.db, {
      drill,
      slot,
      reason: 'missed',
      detail: 'late by 45s',
    });
    expect(skipped).toEqual({
      outcome: 'skipped',
      reason: 'missed',
      blockingRunId: null,
      detail: 'late by 45s',
    });
    expect(
      await recordSlotSkip(store.db, { drill, slot, reason: 'shutdown', detail: 'stopping' }),
    ).toEqual({ outcome: 'taken', by: 'skip' });
    const claimedSlot = new Date('2026-03-01T05:00:00Z');
    expect(await claimSlot(store.db, leases, scheduledStart(drill, claimedSlot))).toEqual({
      outcome: 'claimed',
    });
    expect(
      await recordSlotSkip(store.db, {
        drill,
        slot: claimedSlot,
        reason: 'queued',
        detail: 'waiting',
      }),
    ).toEqual({ outcome: 'taken', by: 'run' });
    const skips = await listSkips(store.db, { drill: [drill] });
    expect(skips.map((skip) => [skip.scheduled_for.toISOString(), skip.reason])).toEqual([
      ['2026-03-01T04:00:00.000Z', 'missed'],
    ]);
  });

  it('refuses to update a skip: the log is append-only', async () => {
    const drill = uniqueDrill('append-only');
    await recordSlotSkip(store.db, {
      drill,
      slot: new Date('2026-03-01T04:00:00Z'),
      reason: 'missed',
      detail: 'late',
    });
    await expect(
      sql`update run_skips set reason = 'overlap' where drill = ${drill}`.execute(store.db),
    ).rejects.toThrow(/append-only/);
  });

  it('refuses a run without a slot', async () => {
    const start = scheduledStart(uniqueDrill('manual'), new Date(), {
      trigger: 'manual',
      scheduledFor: null,
    });
    await expect(claimSlot(store.db, leases, start)).rejects.toThrow(/needs a scheduled run/);
  });
});

describe('slot claims racing across replicas on postgres', () => {
  let url: string;
  const stores: EvidenceStore[] = [];
  const allLeases: RunLeases[] = [];

  beforeAll(async () => {
    url = await createTestDatabase();
    for (let i = 0; i < 3; i++) {
      stores.push(
        await openEvidenceStore({
          url,
          embeddedDir: '/nonexistent/never-used',
          log: silentLogger(),
        }),
      );
      allLeases.push(createRunLeases({ dialect: 'postgres', url, log: silentLogger() }));
    }
  }, SLOW_STORE_MS);

  afterAll(async () => {
    for (const leases of allLeases) await leases.close();
    for (const store of stores) await store.close();
  });

  it('gives each slot exactly one start or one skip, whichever replicas race for it', async () => {
    const drill = uniqueDrill('race');
    const slots = Array.from({ length: 15 }, (_, i) => new Date(Date.UTC(2026, 2, 1, 3, i)));
    // Three replicas claim every slot at once; on some slots one of them records a skip instead.
    const outcomes = await Promise.all(
      slots.flatMap((slot, i) =>
        stores.map((store, r) =>
          i % 4 === 0 && r === 2
            ? recordSlotSkip(store.db, { drill, slot, reason: 'missed', detail: 'late' })
            : claimSlot(store.db, allLeases[r] as RunLeases, scheduledStart(drill, slot)),
        ),
      ),
    );
    const starts = await stores[0]!.db
      .selectFrom('run_starts')
      .select('scheduled_for')
      .where('drill', '=', drill)
      .execute();
    const skips = await listSkips(stores[0]!.db, { drill: [drill] });
    const decided = [
      ...starts.map((row) => row.scheduled_for?.toISOString()),
      ...skips.map((row) => row.scheduled_for.toISOString()),
    ].sort();
    expect(decided).toEqual(slots.map((slot) => slot.toISOString()));
    const winners = outcomes.filter((outcome) => outcome.outcome !== 'taken');
    expect(winners).toHaveLength(slots.length);
  });

  it('skips a slot on one replica while another replica holds a live run of the drill', async () => {
    const drill = uniqueDrill('cross-overlap');
    const [a, b] = [stores[0]!, stores[1]!];
    const running = scheduledStart(drill, new Date('2026-03-01T03:00:00Z'), {
      host: 'replica-a',
      pid: 1,
    });
    const release = await allLeases[0]!.hold(running.runId);
    try {
      expect(await claimSlot(a.db, allLeases[0]!, running)).toEqual({ outcome: 'claimed' });
      expect(
        await claimSlot(
          b.db,
          allLeases[1]!,
          scheduledStart(drill, new Date('2026-03-01T03:01:00Z')),
        ),
      ).toMatchObject({
        outcome: 'skipped',
        reason: 'overlap',
        blockingRunId: running.runId,
      });
    } finally {
      await release();
    }
    // Its lease given back (the run's process gone), the run no longer blocks.
    expect(
      await claimSlot(b.db, allLeases[1]!, scheduledStart(drill, new Date('2026-03-01T03:02:00Z'))),
    ).toEqual({ outcome: 'claimed' });
  });
});

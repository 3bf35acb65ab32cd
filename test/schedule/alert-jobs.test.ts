import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDrillJob } from '../../jobs/drill.js';
import { heartbeatJob } from '../../jobs/heartbeat.js';
import { staleCheckJob } from '../../jobs/stale-check.js';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log/logger.js';
import { heartbeatPeriodic, staleCheckPeriodic } from '../../src/schedule/alert-jobs.js';
import { Daemon } from '../../src/schedule/daemon.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { openTestStore, type TestStore } from '../helpers/test-store.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

describe('the stale check and the heartbeat as the daemon schedules them', () => {
  let t: TestStore;
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    t = await openTestStore('postgres');
    receiver = await WebhookReceiver.start();
  }, SLOW_STORE_MS);
  afterAll(async () => {
    await receiver?.close();
    await t?.cleanup();
  }, SLOW_STORE_MS);

  function config(alerts: string) {
    const dir = '/srv/restore-drill';
    const yaml = `database: { url: "${t.url}" }\nscratch: { root: /var/tmp/rd-scratch }\ndaemon: { staleCheck: { schedule: "* * * * * *" } }\n${alerts}drills:\n  - name: idle-weekly\n    maxAge: 1s\n    source: { kind: directory, path: /srv/backups/* }\n`;
    return parseConfig(yaml, path.join(dir, 'c.yaml'), {}, dir);
  }

  it('are not scheduled without an alerts block', () => {
    const loaded = config('');
    expect(staleCheckPeriodic(staleCheckJob, new Date()).schedule(loaded.config)).toBeNull();
    expect(heartbeatPeriodic(heartbeatJob).schedule(loaded.config)).toBeNull();
  });

  it('raise a stale alert for a drill with no pass within its maxAge, and the heartbeat on its schedule, through a real webhook', async () => {
    const loaded = config(
      `alerts:\n  channels: { hook: { kind: webhook, url: "${receiver.url}" } }\n  heartbeat: { schedule: "* * * * * *" }\n`,
    );
    const watchingSince = new Date(Date.now() - 60_000);
    const daemon = await Daemon.start({
      loaded,
      store: t.store,
      log: silentLogger(),
      jobs: {
        drill: createDrillJob(),
        periodic: [
          staleCheckPeriodic(staleCheckJob, watchingSince),
          heartbeatPeriodic(heartbeatJob),
        ],
      },
    });
    try {
      expect(daemon.scheduler.status().jobs.map((job) => [job.job, job.schedule])).toEqual([
        ['stale-check', '* * * * * *'],
        ['heartbeat', '* * * * * *'],
      ]);
      const deadline = Date.now() + 30_000;
      const kinds = () =>
        receiver.requests.map((request) => (request.body as { kind: string }).kind);
      while (!(kinds().includes('stale') && kinds().includes('heartbeat')) && Date.now() < deadline)
        await sleep(100);
      const stale = receiver.requests.find(
        (request) => (request.body as { kind: string }).kind === 'stale',
      )?.body as { drill: { name: string } };
      expect(stale.drill.name).toBe('idle-weekly');
      expect(kinds()).toContain('heartbeat');
    } finally {
      await daemon.stop('test over');
    }
    // One stale alert per change of state, however many checks ran.
    expect(
      receiver.requests.filter((request) => (request.body as { kind: string }).kind === 'stale'),
    ).toHaveLength(1);
  }, 60_000);
});

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Alerting } from '../../src/schedule/alerting.js';
import { listAlertEvents, type AlertEvent } from '../../src/alerts/alert-log.js';
import type { AlertMessage } from '../../src/alerts/message.js';
import { parseConfig } from '../../src/config/load.js';
import { recordReview } from '../../src/evidence/reviews.js';
import { silentLogger } from '../../src/log/logger.js';
import { DAY, HOUR, makeRun, openStore, recordRun, TestClock } from '../helpers/alert-fixtures.js';
import { engines } from '../helpers/evidence-engines.js';
import { SmtpReceiver } from '../helpers/smtp-receiver.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

describe.each(engines)('alerting on %s', (_dialect, engine) => {
  let handle: Awaited<ReturnType<typeof openStore>>;
  let hook: WebhookReceiver;
  let smtp: SmtpReceiver;
  beforeAll(async () => {
    handle = await openStore(engine);
    hook = await WebhookReceiver.start();
    smtp = await SmtpReceiver.start();
  });
  afterAll(async () => {
    await hook.close();
    await smtp.close();
    await handle.cleanup();
  });
  afterEach(() => {
    hook.requests.length = 0;
    smtp.mails.length = 0;
  });

  const T0 = new Date('2026-11-01T03:00:00Z');

  /**
   * A config with drills `<prefix>-nightly` (tier-1, infra-team, maxAge 8d) and
   * `<prefix>-weekly` (app-team); tier-1 goes to the webhook, app-team to mail.
   * Each test uses its own prefix: they share one database.
   */
  function config(prefix: string, extra = '') {
    return parseConfig(
      `
  drills:
    - name: ${prefix}-nightly
      owner: infra-team
      tags: [tier-1]
      maxAge: 8d
      source: { kind: tar, path: /backups/*.tar.gz }
    - name: ${prefix}-weekly
      owner: app-team
      source: { kind: directory, path: /backups/weekly/* }
  alerts:
    channels:
      hook: { kind: webhook, url: "${hook.url}", timeout: 20s }
      mail:
        kind: email
        smtp: { host: 127.0.0.1, port: ${smtp.port}, timeout: 20s }
        from: drills@example.com
        to: [oncall@example.com]
    routes:
      - match: { tags: [tier-1] }
        channels: [hook]
      - match: { owners: [app-team] }
        channels: [mail]
    remindEvery: 24h
    retry: { attempts: 3, initialDelay: 50ms, maxDelay: 100ms }
  ${extra}`,
      '/etc/restore-drill/restore-drill.yaml',
      {},
      '/etc/restore-drill',
    );
  }

  function alerting(prefix: string, clock: TestClock, extra = '', watchingSince?: Date): Alerting {
    return new Alerting({
      loaded: config(prefix, extra),
      db: handle.store.db,
      log: silentLogger(),
      now: clock.now,
      watchingSince,
    });
  }

  const sent = () =>
    hook.accepted.map((request) => request.body as AlertMessage & { text: string });

  it('alerts once when a drill fails, not again while it keeps failing, reminds after remindEvery, and says when it recovers', async () => {
    const clock = new TestClock(T0);
    const alerts = alerting('a', clock);
    const drill = 'a-nightly';

    await recordRun(handle.store.db, makeRun({ drill, verdict: 'passed', startedAt: T0 }));
    expect(await alerts.evaluateDrill(drill)).toEqual([]);

    const failed = await recordRun(
      handle.store.db,
      makeRun({ drill, verdict: 'failed', startedAt: clock.advance(DAY) }),
    );
    clock.advance(60_000);
    const raised = await alerts.evaluateDrill(drill);
    expect(raised.map((event) => event.kind)).toEqual(['failing']);
    await alerts.deliver();
    expect(sent()).toHaveLength(1);
    const alert = sent()[0]!;
    expect(alert).toMatchObject({
      kind: 'failing',
      status: 'FAILED',
      drill: { name: drill, owner: 'infra-team' },
      run: { runId: failed.runId },
    });
    expect(alert.run!.set!.path).toBe('/backups/fileserver/2026-11-26.tar.gz');
    expect(alert.failedChecks[0]).toMatchObject({
      name: 'manifest',
      findings: [{ item: 'etc/passwd', problem: 'changed' }],
    });
    expect(alert.evidenceCommand).toBe(
      `restore-drill show ${failed.runId} --config /etc/restore-drill/restore-drill.yaml`,
    );

    await recordRun(
      handle.store.db,
      makeRun({ drill, verdict: 'failed', startedAt: clock.advance(HOUR) }),
    );
    expect(await alerts.evaluateDrill(drill)).toEqual([]);
    clock.advance(12 * HOUR);
    expect(await alerts.evaluateDrill(drill)).toEqual([]);

    clock.advance(12 * HOUR);
    const reminder = await alerts.evaluateDrill(drill);
    expect(reminder.map((event) => event.kind)).toEqual(['reminder']);
    expect(reminder[0]!.message).toMatchObject({ status: 'STILL FAILING', redRuns: 2 });
    expect(await alerts.evaluateDrill(drill)).toEqual([]);

    await recordRun(
      handle.store.db,
      makeRun({ drill, verdict: 'passed', startedAt: clock.advance(HOUR) }),
    );
    const recovered = await alerts.evaluateDrill(drill);
    expect(recovered.map((event) => event.kind)).toEqual(['recovered']);
    await alerts.deliver();
    expect(sent().map((message) => message.status)).toEqual([
      'FAILED',
      'STILL FAILING',
      'RECOVERED',
    ]);
    expect(smtp.mails).toHaveLength(0);
  });

  it('alerts a drill gone stale over mail, naming the drill and its last pass', async () => {
    const clock = new TestClock(T0);
    const alerts = alerting('b', clock, '', T0);
    const last = await recordRun(
      handle.store.db,
      makeRun({ drill: 'b-weekly', verdict: 'passed', startedAt: T0 }),
    );
    // b-weekly has no maxAge: never stale. b-nightly has maxAge 8d and no runs: stale 8d after watching started.
    clock.set(new Date(T0.getTime() + 7 * DAY));
    expect((await alerts.evaluateAll()).raised).toEqual([]);
    clock.set(new Date(T0.getTime() + 8 * DAY + HOUR));
    const { raised, errors } = await alerts.evaluateAll();
    expect(errors).toEqual([]);
    expect(raised.map((event) => [event.drill, event.kind])).toEqual([['b-nightly', 'stale']]);
    expect(raised[0]!.message.title).toBe(
      'STALE: restore drill b-nightly — no passing run recorded (maxAge 8d)',
    );
    await alerts.deliver();
    expect(sent().map((message) => message.drill?.name)).toEqual(['b-nightly']);
    expect(last.drill).toBe('b-weekly');
  });

  it('sends a stale alert for a drill whose last pass is older than maxAge, by mail when routed there', async () => {
    const clock = new TestClock(T0);
    const alerts = new Alerting({
      loaded: parseConfig(
        `
  drills:
    - name: c-weekly
      owner: app-team
      maxAge: 8d
      source: { kind: directory, path: /backups/weekly/* }
  alerts:
    channels:
      mail: { kind: email, smtp: { host: 127.0.0.1, port: ${smtp.port}, timeout: 20s }, from: drills@example.com, to: [oncall@example.com] }
  `,
        '/etc/restore-drill/restore-drill.yaml',
      ),
      db: handle.store.db,
      log: silentLogger(),
      now: clock.now,
    });
    await recordRun(
      handle.store.db,
      makeRun({ drill: 'c-weekly', verdict: 'passed', startedAt: T0 }),
    );
    clock.set(new Date(T0.getTime() + 9 * DAY));
    expect((await alerts.evaluateAll()).raised.map((event) => event.kind)).toEqual(['stale']);
    await alerts.deliver();
    expect(smtp.mails).toHaveLength(1);
    expect(smtp.mails[0]!.subject).toBe(
      '[restore-drill] STALE: restore drill c-weekly — no passing run for 9d (maxAge 8d)',
    );
    expect(smtp.mails[0]!.text).toContain(`Last pass:    ${T0.toISOString()}`);
  });

  it('routes by owner: a failed app-team drill goes to mail with the failed check in the body', async () => {
    const clock = new TestClock(T0);
    const alerts = alerting('d', clock);
    const run = await recordRun(
      handle.store.db,
      makeRun({ drill: 'd-weekly', verdict: 'failed', startedAt: T0 }),
    );
    await alerts.evaluateAll();
    const report = await alerts.deliver();
    expect(report?.attempts.map((attempt) => [attempt.channel, attempt.result.ok])).toEqual([
      ['mail', true],
    ]);
    expect(sent()).toHaveLength(0);
    const mail = smtp.mails[0]!;
    expect(mail.subject).toContain('FAILED: restore drill d-weekly failed');
    expect(mail.text).toContain('Owner:        app-team');
    expect(mail.text).toContain('x manifest: 1 of 12 files differ from SHA256SUMS');
    expect(mail.text).toContain(
      `restore-drill show ${run.runId} --config /etc/restore-drill/restore-drill.yaml`,
    );
  });

  it('logs an alert no route takes without sending it, and still tracks the state', async () => {
    const clock = new TestClock(T0);
    const alerts = new Alerting({
      loaded: parseConfig(
        `
  drills:
    - name: e-lonely
      source: { kind: tar, path: /b/*.tar }
  alerts:
    channels: { hook: { kind: webhook, url: "${hook.url}" } }
    routes: [{ match: { tags: [nothing] }, channels: [hook] }]
  `,
        'drills.yaml',
      ),
      db: handle.store.db,
      log: silentLogger(),
      now: clock.now,
    });
    await recordRun(
      handle.store.db,
      makeRun({ drill: 'e-lonely', verdict: 'error', startedAt: T0 }),
    );
    const raised = await alerts.evaluateAll();
    expect(raised.raised.map((event) => [event.kind, event.channels])).toEqual([['failing', []]]);
    expect(await alerts.evaluateDrill('e-lonely')).toEqual([]);
    await alerts.deliver();
    expect(hook.requests).toHaveLength(0);
  });

  it('raises one alert when two replicas evaluate the same drill at once', async () => {
    const clock = new TestClock(T0);
    await recordRun(
      handle.store.db,
      makeRun({ drill: 'f-nightly', verdict: 'timed_out', startedAt: T0 }),
    );
    const [one, two] = await Promise.all([
      alerting('f', clock).evaluateDrill('f-nightly'),
      alerting('f', clock).evaluateDrill('f-nightly'),
    ]);
    expect([...one, ...two].map((event) => event.kind)).toEqual(['failing']);
    const events = await listAlertEvents(handle.store.db, { drill: ['f-nightly'] });
    expect(events).toHaveLength(1);
    expect(events[0]!.event.message.title).toContain(
      'TIMED OUT: restore drill f-nightly timed out',
    );
  });

  it('sends the heartbeat once per slot, listing every drill green and red', async () => {
    const clock = new TestClock(T0);
    const alerts = alerting('g', clock, '  heartbeat: { schedule: "0 9 * * 1", channels: [hook] }');
    await recordRun(
      handle.store.db,
      makeRun({ drill: 'g-nightly', verdict: 'passed', startedAt: T0 }),
    );
    await recordRun(
      handle.store.db,
      makeRun({ drill: 'g-weekly', verdict: 'failed', startedAt: T0 }),
    );
    const slot = new Date('2026-11-02T09:00:00Z');
    expect((await alerts.raiseHeartbeat(slot))?.created).toBe(true);
    expect((await alerts.raiseHeartbeat(slot))?.created).toBe(false);
    await alerts.deliver();
    const heartbeat = sent().find((message) => message.kind === 'heartbeat')!;
    expect(heartbeat.title).toBe(
      'HEARTBEAT: restore-drill — 2 drills: 1 passing, 1 failing, 0 stale',
    );
    expect(heartbeat.drills!.map((drill) => [drill.name, drill.state])).toEqual([
      ['g-nightly', 'passing'],
      ['g-weekly', 'failing'],
    ]);
    expect(sent().filter((message) => message.kind === 'heartbeat')).toHaveLength(1);
  });

  it('tests each channel and says what each receiver answered', async () => {
    const clock = new TestClock(T0);
    const alerts = new Alerting({
      loaded: parseConfig(
        `
  drills:
    - name: h-any
      source: { kind: tar, path: /b/*.tar }
  alerts:
    channels:
      hook: { kind: webhook, url: "${hook.url}" }
      mail: { kind: email, smtp: { host: 127.0.0.1, port: ${smtp.port} }, from: a@example.com, to: [b@example.com] }
      broken: { kind: webhook, url: "http://127.0.0.1:1/nothing", timeout: 1s }
  `,
        'drills.yaml',
      ),
      db: handle.store.db,
      log: silentLogger(),
      now: clock.now,
    });
    const results = await alerts.testChannels();
    expect(results.map((result) => [result.channel, result.result.ok])).toEqual([
      ['hook', true],
      ['mail', true],
      ['broken', false],
    ]);
    expect((hook.accepted[0]!.body as AlertMessage).kind).toBe('test');
    expect(smtp.mails[0]!.subject).toBe(
      "[restore-drill] TEST: restore-drill alert channel 'mail' works",
    );
    expect((await alerts.testChannels(['hook'])).map((result) => result.channel)).toEqual(['hook']);
    await expect(alerts.testChannels(['pager'])).rejects.toThrow(
      "'pager' is not a channel; expected one of 'hook', 'mail', 'broken'",
    );
  });

  it('alerts once per failed run left unreviewed past review.maxUnreviewed, through the routes, never for a reviewed one', async () => {
    const clock = new TestClock(T0);
    const alerts = alerting('u', clock, 'review: { maxUnreviewed: 7d }');
    const db = handle.store.db;
    const nightly = await recordRun(
      db,
      makeRun({ drill: 'u-nightly', verdict: 'failed', startedAt: T0 }),
    );
    const weekly = await recordRun(
      db,
      makeRun({ drill: 'u-weekly', verdict: 'failed', startedAt: new Date(T0.getTime() + HOUR) }),
    );
    const signedOff = await recordRun(
      db,
      makeRun({
        drill: 'u-nightly',
        verdict: 'failed',
        startedAt: new Date(T0.getTime() + 2 * HOUR),
      }),
    );
    // An error proves nothing about the backup: nothing to sign off.
    await recordRun(
      db,
      makeRun({
        drill: 'u-nightly',
        verdict: 'error',
        startedAt: new Date(T0.getTime() + 3 * HOUR),
      }),
    );
    await recordReview(
      db,
      {
        runId: signedOff.runId,
        by: 'alice',
        decision: 'remediation',
        note: 'disk replaced',
        via: 'cli',
      },
      { now: new Date(T0.getTime() + DAY) },
    );
    const unreviewed = (events: { kind: string }[]) =>
      events.filter((event) => event.kind === 'unreviewed');

    clock.set(new Date(T0.getTime() + 6 * DAY));
    expect(unreviewed((await alerts.evaluateAll()).raised)).toEqual([]);

    clock.set(new Date(T0.getTime() + 7 * DAY + 3 * HOUR));
    const raised = unreviewed((await alerts.evaluateAll()).raised) as AlertEvent[];
    expect(raised.map((event) => [event.drill, event.runId, event.dedupeKey])).toEqual([
      ['u-nightly', nightly.runId, `unreviewed:${nightly.runId}`],
      ['u-weekly', weekly.runId, `unreviewed:${weekly.runId}`],
    ]);
    const message = raised[0]!.message;
    expect(message).toMatchObject({
      kind: 'unreviewed',
      status: 'UNREVIEWED',
      severity: 'warning',
      drill: { name: 'u-nightly' },
      run: { runId: nightly.runId, cause: 'manifest: 1 of 12 files differ' },
      since: nightly.startedAt,
    });
    expect(message.title).toBe(
      `UNREVIEWED: failed run ${nightly.runId} of restore drill u-nightly has had no sign-off for 7d3h (maxUnreviewed 7d)`,
    );
    expect(message.summary).toContain(
      `failed at ${nightly.finishedAt} (manifest: 1 of 12 files differ)`,
    );
    expect(message.signoffCommand).toBe(
      `restore-drill signoff ${nightly.runId} --config /etc/restore-drill/restore-drill.yaml --by <you> --decision <accepted|remediation|risk-accepted> --note '<what was decided>'`,
    );

    await alerts.deliver();
    // tier-1 goes to the webhook, app-team to mail: the routes apply as to any alert.
    const hooked = sent().filter((alert) => alert.kind === 'unreviewed');
    expect(hooked.map((alert) => alert.run?.runId)).toEqual([nightly.runId]);
    const mail = smtp.mails.find((received) => received.subject.includes('UNREVIEWED'));
    expect(mail?.subject).toBe(
      `[restore-drill] UNREVIEWED: failed run ${weekly.runId} of restore drill u-weekly has had no sign-off for 7d2h (maxUnreviewed 7d)`,
    );
    expect(mail?.text).toContain(
      `Sign it off:\n  restore-drill signoff ${weekly.runId} --config /etc/restore-drill/restore-drill.yaml`,
    );
    expect(mail?.text).toContain(`Cause:        manifest: 1 of 12 files differ`);

    // Once per run: later passes, and a review after the alert, raise nothing more.
    expect(unreviewed((await alerts.evaluateAll()).raised)).toEqual([]);
    await recordReview(db, {
      runId: nightly.runId,
      by: 'bob',
      decision: 'accepted',
      note: 'known',
      via: 'web',
    });
    clock.advance(3 * DAY);
    expect(unreviewed((await alerts.evaluateAll()).raised)).toEqual([]);
  });

  it('sends an unreviewed alert only through routes whose events take it', async () => {
    const clock = new TestClock(T0);
    const alerts = new Alerting({
      loaded: parseConfig(
        `
  drills:
    - name: v-nightly
      source: { kind: tar, path: /backups/*.tar.gz }
  review: { maxUnreviewed: 1d }
  alerts:
    channels:
      hook: { kind: webhook, url: "${hook.url}", timeout: 20s }
      mail: { kind: email, smtp: { host: 127.0.0.1, port: ${smtp.port}, timeout: 20s }, from: drills@example.com, to: [oncall@example.com] }
    routes:
      - events: [failing, recovered]
        channels: [hook]
      - events: [unreviewed]
        channels: [mail]
  `,
        '/etc/restore-drill/restore-drill.yaml',
      ),
      db: handle.store.db,
      log: silentLogger(),
      now: clock.now,
    });
    const run = await recordRun(
      handle.store.db,
      makeRun({ drill: 'v-nightly', verdict: 'failed', startedAt: T0 }),
    );
    clock.set(new Date(T0.getTime() + 2 * DAY));
    const { raised, errors } = await alerts.evaluateAll();
    expect(errors).toEqual([]);
    expect(raised.map((event) => [event.kind, event.channels])).toEqual([
      ['failing', ['hook']],
      ['unreviewed', ['mail']],
    ]);
    await alerts.deliver();
    // Other tests' undelivered alerts share the log: look at this drill's.
    expect(
      sent()
        .filter((alert) => alert.drill?.name === 'v-nightly')
        .map((alert) => alert.kind),
    ).toEqual(['failing']);
    expect(
      smtp.mails.filter((mail) => mail.subject.includes('v-nightly')).map((mail) => mail.subject),
    ).toEqual([
      `[restore-drill] UNREVIEWED: failed run ${run.runId} of restore drill v-nightly has had no sign-off for 2d (maxUnreviewed 1d)`,
    ]);
  });

  it('does nothing without an alerts block', async () => {
    const alerts = new Alerting({
      loaded: parseConfig(
        'drills:\n  - name: i-none\n    source: { kind: tar, path: /b/*.tar }\n',
        'drills.yaml',
      ),
      db: handle.store.db,
      log: silentLogger(),
    });
    await recordRun(
      handle.store.db,
      makeRun({ drill: 'i-none', verdict: 'failed', startedAt: T0 }),
    );
    expect(alerts.enabled).toBe(false);
    expect(await alerts.evaluateDrill('i-none')).toEqual([]);
    expect(await alerts.deliver()).toBeNull();
  });
});

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heartbeatJob } from '../../jobs/heartbeat.js';
import { staleCheckJob } from '../../jobs/stale-check.js';
import { alertsCommand } from '../../src/cli/alerts.js';
import { CliError } from '../../src/cli/exit-codes.js';
import { openEvidenceStore, type EvidenceStore } from '../../src/evidence/open-store.js';
import { silentLogger } from '../../src/log/logger.js';
import { DAY, makeRun, recordRun } from '../helpers/alert-fixtures.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { SmtpReceiver } from '../helpers/smtp-receiver.js';
import { createTestDatabase } from '../helpers/test-database.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

const jobs = { staleCheck: staleCheckJob, heartbeat: heartbeatJob };
let dir: string;
let url: string;
let hook: WebhookReceiver;
let smtp: SmtpReceiver;
let store: EvidenceStore;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rd-cli-alerts-'));
  url = await createTestDatabase();
  hook = await WebhookReceiver.start();
  smtp = await SmtpReceiver.start();
  store = await openEvidenceStore({ url, embeddedDir: join(dir, 'unused'), log: silentLogger() });
}, SLOW_STORE_MS);

afterAll(async () => {
  await store.close();
  await hook.close();
  await smtp.close();
  await rm(dir, { recursive: true, force: true });
});

async function writeConfig(name: string, alerts: string): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(
    file,
    `database: { url: "${url}" }
drills:
  - name: ${name}-nightly
    owner: infra-team
    maxAge: 2d
    source: { kind: tar, path: /backups/*.tar.gz }
${alerts}`,
  );
  return file;
}

const channels = () => `alerts:
  channels:
    hook: { kind: webhook, url: "${hook.url}", timeout: 20s }
    mail: { kind: email, smtp: { host: 127.0.0.1, port: ${smtp.port}, timeout: 20s }, from: drills@example.com, to: [oncall@example.com] }
  retry: { attempts: 2, initialDelay: 50ms, maxDelay: 50ms }
`;

/** Runs `restore-drill alerts <args>` in-process; returns what it printed and its exit code. */
async function run(args: string[]): Promise<{ stdout: string; exitCode: number }> {
  let stdout = '';
  let exitCode = -1;
  const command = alertsCommand(jobs, {
    stdout: (text) => (stdout += text),
    setExitCode: (code) => (exitCode = code),
  });
  await command.parseAsync([...args, '--log-level', 'silent'], { from: 'user' });
  return { stdout, exitCode };
}

describe('restore-drill alerts test', () => {
  it('sends a test message through each channel and says what each answered', async () => {
    const config = await writeConfig('t1', channels());
    const { stdout, exitCode } = await run(['test', '--config', config]);
    expect(exitCode).toBe(0);
    expect(stdout).toMatch(
      /^ok {5}hook \(webhook, http:\/\/127\.0\.0\.1:\d+\) {2}HTTP 200 ok {2}\[.+\]$/m,
    );
    expect(stdout).toMatch(
      /^ok {5}mail \(email, smtp:\/\/127\.0\.0\.1:\d+\) {2}250 .*Message queued as test-1/m,
    );
    expect(stdout).toContain('all 2 channel(s) accepted the test message');
  });

  it('exits 1 and names the failure when a channel does not accept it (JSON)', async () => {
    const closed = await WebhookReceiver.start();
    const downUrl = closed.url;
    await closed.close();
    const config = await writeConfig(
      't2',
      channels().replace(
        '  retry:',
        `    down: { kind: webhook, url: "${downUrl}", timeout: 1s }\n  retry:`,
      ),
    );
    const { stdout, exitCode } = await run(['test', '--config', config, '--json']);
    expect(exitCode).toBe(1);
    const body = JSON.parse(stdout) as {
      channels: { channel: string; ok: boolean; error?: string; permanent?: boolean }[];
    };
    expect(body.channels.map((channel) => [channel.channel, channel.ok])).toEqual([
      ['hook', true],
      ['mail', true],
      ['down', false],
    ]);
    expect(body.channels[2]).toMatchObject({
      permanent: false,
      error: expect.stringContaining('ECONNREFUSED'),
    });
  });

  it('tests only the named channel', async () => {
    const config = await writeConfig('t3', channels());
    const before = smtp.mails.length;
    const { stdout, exitCode } = await run(['test', '--config', config, '--channel', 'hook']);
    expect(exitCode).toBe(0);
    expect(stdout).toContain('all 1 channel(s) accepted');
    expect(smtp.mails).toHaveLength(before);
  });

  it('refuses an unknown channel as a usage error', async () => {
    const config = await writeConfig('t4', channels());
    const error = await run(['test', '--config', config, '--channel', 'pager']).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CliError);
    expect(error).toMatchObject({
      exitCode: 2,
      message: "--channel: 'pager' is not a channel; expected one of 'hook', 'mail'",
    });
  });

  it('says so when the config has no alerts block', async () => {
    const config = await writeConfig('t5', '');
    await expect(run(['test', '--config', config])).rejects.toMatchObject({
      exitCode: 2,
      message: `${config}: no alerts configured; add an 'alerts:' block with channels (see docs/alerts.md)`,
    });
  });
});

describe('restore-drill alerts check-stale, deliver and log', () => {
  it('raises a stale alert once, delivers it, and lists it in the log', async () => {
    const config = await writeConfig('s1', channels());
    await recordRun(
      store.db,
      makeRun({
        drill: 's1-nightly',
        verdict: 'passed',
        startedAt: new Date(Date.now() - 3 * DAY),
      }),
    );
    const first = await run(['check-stale', '--config', config, '--json']);
    expect(first.exitCode).toBe(0);
    const body = JSON.parse(first.stdout) as {
      drills: { name: string; state: string }[];
      raised: { kind: string; title: string }[];
      delivery: { attempts: { channel: string; ok: boolean }[] };
    };
    expect(body.drills).toMatchObject([{ name: 's1-nightly', state: 'stale' }]);
    expect(body.raised.map((alert) => alert.kind)).toEqual(['stale']);
    expect(body.delivery.attempts.map((attempt) => [attempt.channel, attempt.ok]).sort()).toEqual([
      ['hook', true],
      ['mail', true],
    ]);
    expect(smtp.mails.at(-1)!.subject).toBe(
      '[restore-drill] STALE: restore drill s1-nightly — no passing run for 3d (maxAge 2d)',
    );

    const again = await run(['check-stale', '--config', config]);
    expect(again.stdout).toContain('STALE     s1-nightly');
    expect(again.stdout).toContain('no new alerts');

    const log = await run(['log', '--config', config, '--drill', 's1-nightly']);
    expect(log.stdout).toMatch(
      /STALE: restore drill s1-nightly — no passing run for 3d \(maxAge 2d\)\n {4}sent {6}hook {2}\(1 attempt\)\n {4}sent {6}mail {2}\(1 attempt\)\n/,
    );
  });

  it('exits 1 while an alert cannot be delivered, and 0 once `deliver` gets it through', async () => {
    const config = await writeConfig(
      's2',
      `alerts:\n  channels:\n    flaky: { kind: webhook, url: "${hook.url}", timeout: 2s }\n  retry: { attempts: 10, initialDelay: 50ms, maxDelay: 50ms }\n`,
    );
    await recordRun(
      store.db,
      makeRun({ drill: 's2-nightly', verdict: 'failed', startedAt: new Date() }),
    );
    hook.failuresLeft = 100;
    const failing = await run(['check-stale', '--config', config, '--wait', '120ms']);
    expect(failing.exitCode).toBe(1);
    expect(failing.stdout).toMatch(
      /failed {2}failing:s2-nightly:[0-9a-f-]+ → flaky \(attempt 1\) {2}http:\/\/127\.0\.0\.1:\d+ answered HTTP 503/,
    );
    expect(failing.stdout).toContain('delivery(ies) still pending');
    const log = await run(['log', '--config', config, '--drill', 's2-nightly', '--json']);
    const entry = (
      JSON.parse(log.stdout) as {
        alerts: { deliveries: { channel: string; status: string; lastError: string }[] }[];
      }
    ).alerts[0]!;
    expect(entry.deliveries).toMatchObject([
      { channel: 'flaky', status: 'pending', lastError: expect.stringContaining('HTTP 503') },
    ]);

    hook.failuresLeft = 0;
    const delivered = await run(['deliver', '--config', config]);
    expect(delivered.exitCode).toBe(0);
    expect(delivered.stdout).toMatch(
      /^sent {4}failing:s2-nightly:[0-9a-f-]+ → flaky {2}HTTP 200 ok$/m,
    );
    expect((await run(['deliver', '--config', config])).stdout).toBe('nothing to deliver\n');
  });

  it('sends the heartbeat now', async () => {
    const config = await writeConfig('h1', channels());
    const { stdout, exitCode } = await run(['heartbeat', '--config', config]);
    expect(exitCode).toBe(0);
    expect(stdout).toContain(
      'HEARTBEAT: restore-drill — 1 drill: 0 passing, 0 failing, 0 stale, 1 never run',
    );
  });

  it('refuses a malformed --wait', async () => {
    const config = await writeConfig('w1', channels());
    const command = alertsCommand(jobs, { stdout: () => {}, setExitCode: () => {} });
    for (const sub of command.commands) sub.configureOutput({ writeErr: () => {} });
    await expect(
      command.parseAsync(['deliver', '--config', config, '--wait', 'soon'], { from: 'user' }),
    ).rejects.toMatchObject({
      code: 'commander.invalidArgument',
      message:
        "error: option '--wait <duration>' argument 'soon' is invalid. expected a duration like '30s' or '5m'",
    });
  });
});

import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EmailChannel, emailChannelConfigSchema } from '../../src/alerts/email-channel.js';
import {
  buildFailingAlert,
  buildTestMessage,
  type AlertMessage,
} from '../../src/alerts/message.js';
import { changedFileCheck, makeRun } from '../helpers/alert-fixtures.js';
import { SmtpReceiver } from '../helpers/smtp-receiver.js';

let receiver: SmtpReceiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

function channel(port: number, smtp: Record<string, unknown> = {}): EmailChannel {
  return new EmailChannel(
    'mail',
    emailChannelConfigSchema.parse({
      kind: 'email',
      smtp: { host: '127.0.0.1', port, timeout: '2s', ...smtp },
      from: 'restore-drill <drills@example.com>',
      to: ['ops@example.com', 'Infra <infra@example.com>'],
    }),
  );
}

function failingMessage(): AlertMessage {
  const run = makeRun({
    drill: 'fileserver-nightly',
    verdict: 'failed',
    startedAt: new Date('2026-11-27T03:00:00Z'),
    checks: [changedFileCheck('srv/data/customers.csv')],
  });
  return buildFailingAlert({
    kind: 'failing',
    drill: { name: 'fileserver-nightly', owner: 'infra-team', tags: [] },
    configFile: '/etc/restore-drill/restore drill.yaml',
    now: new Date('2026-11-27T03:05:00Z'),
    run,
    firstRed: run,
    redRuns: 1,
    lastPass: null,
  });
}

describe('email channel', () => {
  it('sends a mail whose subject and body name the drill, the failed check and the evidence command', async () => {
    receiver = await SmtpReceiver.start();
    const message = failingMessage();
    const result = await channel(receiver.port).send(message);
    expect(result).toMatchObject({
      ok: true,
      detail: expect.stringContaining('Message queued as test-1'),
    });
    expect(receiver.mails).toHaveLength(1);
    const mail = receiver.mails[0]!;
    expect(mail.from).toBe('drills@example.com');
    expect(mail.to).toEqual(['ops@example.com', 'infra@example.com']);
    expect(mail.subject).toBe(
      '[restore-drill] FAILED: restore drill fileserver-nightly failed — manifest: 1 of 12 files differ from SHA256SUMS',
    );
    expect(mail.headers.get('x-restore-drill-drill')).toBe('fileserver-nightly');
    expect(mail.text).toContain('Owner:        infra-team');
    expect(mail.text).toContain('Backup set:   /backups/fileserver/2026-11-26.tar.gz');
    expect(mail.text).toContain('  x manifest: 1 of 12 files differ from SHA256SUMS');
    expect(mail.text).toContain(
      `      changed: srv/data/customers.csv (expected ${'a'.repeat(64)}, found ${'b'.repeat(64)})`,
    );
    expect(mail.text).toContain(
      `  restore-drill show ${message.run!.runId} --config '/etc/restore-drill/restore drill.yaml'`,
    );
  });

  it('logs in with the configured user and password', async () => {
    receiver = await SmtpReceiver.start({ auth: { user: 'drills', password: 's3cret-pass' } });
    const result = await channel(receiver.port, { user: 'drills', password: 's3cret-pass' }).send(
      buildTestMessage({ channel: 'mail', now: new Date() }),
    );
    expect(result.ok).toBe(true);
    expect(receiver.mails[0]!.subject).toBe(
      "[restore-drill] TEST: restore-drill alert channel 'mail' works",
    );
  });

  it('calls wrong credentials a permanent failure', async () => {
    receiver = await SmtpReceiver.start({ auth: { user: 'drills', password: 's3cret-pass' } });
    const result = await channel(receiver.port, { user: 'drills', password: 'wrong-pass' }).send(
      buildTestMessage({ channel: 'mail', now: new Date() }),
    );
    expect(result).toMatchObject({
      ok: false,
      permanent: true,
      error: expect.stringContaining('EAUTH'),
    });
    expect(!result.ok && result.error).not.toContain('wrong-pass');
  });

  it('calls a 451 answer transient and a 550 answer permanent', async () => {
    receiver = await SmtpReceiver.start({ failFirst: 1, failCode: 451 });
    expect(await channel(receiver.port).send(failingMessage())).toMatchObject({
      ok: false,
      permanent: false,
      error: expect.stringContaining('451'),
    });
    expect(await channel(receiver.port).send(failingMessage())).toMatchObject({ ok: true });
    await receiver.close();
    receiver = await SmtpReceiver.start({ failFirst: 1, failCode: 550 });
    expect(await channel(receiver.port).send(failingMessage())).toMatchObject({
      ok: false,
      permanent: true,
      error: expect.stringContaining('550'),
    });
  });

  it('calls a refused connection transient', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const result = await channel(port).send(failingMessage());
    expect(result).toMatchObject({
      ok: false,
      permanent: false,
      error: expect.stringContaining('ECONNREFUSED'),
    });
  });

  it('gives up on a server that never greets, as a transient failure', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      const result = await channel(port, { timeout: '300ms' }).send(failingMessage());
      expect(result).toMatchObject({
        ok: false,
        permanent: false,
        error: expect.stringContaining('ETIMEDOUT'),
      });
    } finally {
      silent.close();
    }
  });
});

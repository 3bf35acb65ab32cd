import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { redactor } from '../../src/model/redact.js';

const drills = `
drills:
  - name: nightly
    owner: infra-team
    tags: [tier-1]
    source: { kind: tar, path: /backups/*.tar.gz }
  - name: weekly
    source: { kind: directory, path: /backups/weekly/* }
`;

function problemsOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, 'drills.yaml', env, '/etc/restore-drill');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message.split('\n');
  }
  throw new Error('expected a ConfigError');
}

describe('alerts config', () => {
  it('parses channels, routes and the documented defaults', () => {
    const { config } = parseConfig(
      `${drills}
alerts:
  channels:
    ops-slack: { kind: webhook, url: "https://hooks.slack.com/services/T/B/x", format: slack }
    mail:
      kind: email
      smtp: { host: smtp.example.com }
      from: "restore-drill <drills@example.com>"
      to: [ops@example.com]
  routes:
    - match: { tags: [tier-1] }
      channels: [ops-slack, mail]
`,
      'drills.yaml',
    );
    const alerts = config.alerts!;
    expect(alerts.remindEvery).toBe(24 * 3_600_000);
    expect(alerts.retry).toEqual({
      attempts: 10,
      initialDelay: 10_000,
      maxDelay: 600_000,
      giveUpAfter: 3 * 86_400_000,
    });
    expect(alerts.channels['ops-slack']).toEqual({
      kind: 'webhook',
      url: 'https://hooks.slack.com/services/T/B/x',
      format: 'slack',
      headers: {},
      timeout: 10_000,
    });
    expect(alerts.channels.mail).toMatchObject({
      kind: 'email',
      subjectPrefix: '[restore-drill]',
      smtp: { host: 'smtp.example.com', secure: false, timeout: 30_000 },
    });
    expect(alerts.routes).toEqual([
      { match: { tags: ['tier-1'] }, channels: ['ops-slack', 'mail'] },
    ]);
  });

  it('accepts remindEvery: never and turns it into no reminders', () => {
    const { config } = parseConfig(
      `${drills}\nalerts:\n  channels: { h: { kind: webhook, url: "http://127.0.0.1:9/x" } }\n  remindEvery: never\n`,
      'drills.yaml',
    );
    expect(config.alerts!.remindEvery).toBeNull();
  });

  it('names the route path of a channel that does not exist, and what exists', () => {
    const lines = problemsOf(`${drills}
alerts:
  channels:
    ops-slack: { kind: webhook, url: "https://hooks.slack.com/services/T/B/x", format: slack }
    mail: { kind: email, smtp: { host: smtp.example.com }, from: a@example.com, to: [b@example.com] }
  routes:
    - channels: [ops-slack]
    - match: { owners: [infra-team] }
      channels: [pager]
  heartbeat: { schedule: "0 9 * * 1", channels: [chat] }
`);
    expect(lines).toContain(
      `drills.yaml:17 alerts.routes[1].channels[0]: 'pager' is not a channel; expected one of 'ops-slack', 'mail'`,
    );
    expect(lines).toContain(
      `drills.yaml:18 alerts.heartbeat.channels[0]: 'chat' is not a channel; expected one of 'ops-slack', 'mail'`,
    );
  });

  it('refuses a route naming a drill that does not exist', () => {
    const lines = problemsOf(`${drills}
alerts:
  channels: { h: { kind: webhook, url: "http://127.0.0.1:9/x" } }
  routes:
    - match: { drills: [nightly, nigthly] }
      channels: [h]
`);
    expect(lines).toEqual([
      `drills.yaml:13 alerts.routes[0].match.drills[1]: 'nigthly' is not a drill; expected one of 'nightly', 'weekly'`,
    ]);
  });

  it('names an unknown channel kind as a channel kind, not a source kind', () => {
    const lines = problemsOf(
      `${drills}\nalerts:\n  channels:\n    pager: { kind: sms, number: "+100" }\n`,
    );
    expect(lines).toEqual([
      `drills.yaml:12 alerts.channels.pager.kind: 'sms' is not a channel kind; expected one of 'webhook', 'email'`,
    ]);
  });

  it('reports every bad channel field with its path and line', () => {
    const lines = problemsOf(`${drills}
alerts:
  channels:
    hook: { kind: webhook, url: "ftp://example.com/x", format: discord, timeout: soon }
    mail:
      kind: email
      smtp: { host: smtp.example.com, port: 70000, password: x }
      from: not-an-address
      to: []
  remindEvery: daily
  retry: { attempts: 0, initialDelay: 1m, maxDelay: 10s }
`);
    expect(lines).toEqual([
      `drills.yaml:12 alerts.channels.hook.url: expected an http:// or https:// URL`,
      `drills.yaml:12 alerts.channels.hook.format: 'discord' is not allowed; expected one of 'generic', 'slack', 'teams'`,
      `drills.yaml:12 alerts.channels.hook.timeout: expected a duration like '90s', '15m', '26h' or '7d'`,
      `drills.yaml:15 alerts.channels.mail.smtp.port: Too big: expected number to be <=65535`,
      `drills.yaml:15 alerts.channels.mail.smtp.user: missing; a password needs a user`,
      `drills.yaml:16 alerts.channels.mail.from: expected one e-mail address, e.g. 'ops@example.com' or 'Ops <ops@example.com>'`,
      `drills.yaml:17 alerts.channels.mail.to: expected at least one recipient`,
      `drills.yaml:18 alerts.remindEvery: expected a duration like '24h' or 'never'`,
      `drills.yaml:19 alerts.retry.attempts: Too small: expected number to be >=1`,
      `drills.yaml:19 alerts.retry.maxDelay: expected at least initialDelay`,
    ]);
  });

  it('refuses a password without a user, and a retry whose maxDelay is below initialDelay', () => {
    const lines = problemsOf(`${drills}
alerts:
  channels:
    mail: { kind: email, smtp: { host: smtp.example.com, password: x }, from: a@example.com, to: [b@example.com] }
  retry: { initialDelay: 1m, maxDelay: 10s }
`);
    expect(lines).toEqual([
      'drills.yaml:12 alerts.channels.mail.smtp.user: missing; a password needs a user',
      'drills.yaml:13 alerts.retry.maxDelay: expected at least initialDelay',
    ]);
  });

  it('resolves an SMTP password from the environment and registers it for redaction', () => {
    const { config } = parseConfig(
      `${drills}
alerts:
  channels:
    mail: { kind: email, smtp: { host: smtp.example.com, user: drills, password: "\${env:SMTP_PASSWORD}" }, from: a@example.com, to: [b@example.com] }
`,
      'drills.yaml',
      { SMTP_PASSWORD: 'hunter2-very-secret' },
    );
    const mail = config.alerts!.channels.mail!;
    expect(mail.kind === 'email' && mail.smtp.password).toBe('hunter2-very-secret');
    expect(redactor.redact('login failed for hunter2-very-secret')).toBe(
      'login failed for ${env:SMTP_PASSWORD}',
    );
  });

  it('needs at least one channel', () => {
    expect(problemsOf(`${drills}\nalerts:\n  channels: {}\n`)).toEqual([
      'drills.yaml:11 alerts.channels: expected at least one channel',
    ]);
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  buildFailingAlert,
  buildHeartbeat,
  buildRecoveredAlert,
  buildStaleAlert,
  evidenceCommand,
  MAX_ALERT_CHECKS,
  MAX_ALERT_FINDINGS,
  renderText,
  shellQuote,
} from '../../src/alerts/message.js';
import { slackPayload, teamsPayload } from '../../src/alerts/webhook-payloads.js';
import { parseConfig } from '../../src/config/load.js';
import { redactor } from '../../src/model/redact.js';
import type { CheckResult } from '../../src/model/check-result.js';
import { DAY, makeRun } from '../helpers/alert-fixtures.js';

const drill = {
  name: 'fileserver-nightly',
  owner: 'infra-team',
  tags: ['tier-1'],
  description: 'Nightly tar of the file server',
};
const T0 = new Date('2026-11-27T03:00:00Z');

function failing(checks?: CheckResult[], cause?: string) {
  const run = makeRun({
    drill: drill.name,
    verdict: 'failed',
    startedAt: T0,
    ...(checks ? { checks } : {}),
    ...(cause ? { cause } : {}),
  });
  return {
    run,
    message: buildFailingAlert({
      kind: 'failing',
      drill,
      configFile: '/etc/restore-drill/restore-drill.yaml',
      now: new Date(T0.getTime() + 60_000),
      run,
      firstRed: run,
      redRuns: 1,
      lastPass: null,
    }),
  };
}

describe('alert messages', () => {
  it('say which drill, owner, set, failed check with expected against found, and the evidence command', () => {
    const { run, message } = failing();
    const text = renderText(message);
    expect(text.split('\n')[0]).toBe(
      'FAILED: restore drill fileserver-nightly failed — manifest: 1 of 12 files differ from SHA256SUMS',
    );
    expect(text).toContain('Owner:        infra-team');
    expect(text).toContain(
      'Backup set:   /backups/fileserver/2026-11-26.tar.gz (taken 2026-11-26T02:00:00.000Z, 123 KB)',
    );
    expect(text).toContain(
      '  x manifest: 1 of 12 files differ from SHA256SUMS\n      expected {"files":12}, found {"files":12,"changed":1}',
    );
    expect(text).toContain(
      `      changed: etc/passwd (expected ${'a'.repeat(64)}, found ${'b'.repeat(64)})`,
    );
    expect(text).toContain(
      `Full evidence:\n  restore-drill show ${run.runId} --config /etc/restore-drill/restore-drill.yaml`,
    );
    expect(text).toContain('It has never passed.');
  });

  it(`show at most ${MAX_ALERT_CHECKS} failed checks and ${MAX_ALERT_FINDINGS} findings each, and say how many more`, () => {
    const checks: CheckResult[] = Array.from({ length: 7 }, (_, index) => ({
      name: `check-${index}`,
      verdict: 'failed',
      expected: 1,
      actual: 0,
      detail: `check ${index} failed`,
      findings: Array.from({ length: 10 }, (__, f) => ({ item: `file-${f}`, problem: 'missing' })),
      findingsTotal: 40,
    }));
    const { message } = failing(checks);
    expect(message.failedChecks).toHaveLength(MAX_ALERT_CHECKS);
    expect(message.failedChecksTotal).toBe(7);
    expect(message.failedChecks[0]!.findings).toHaveLength(MAX_ALERT_FINDINGS);
    const text = renderText(message);
    expect(text).toContain(`Failed checks (${MAX_ALERT_CHECKS} of 7 shown):`);
    expect(text).toContain(`      … and ${40 - MAX_ALERT_FINDINGS} more`);
  });

  it('name an error by its cause when no check ran', () => {
    const run = makeRun({
      drill: drill.name,
      verdict: 'error',
      startedAt: T0,
      cause: "no backup set matches 'backups/*.tar.gz'",
    });
    const message = buildFailingAlert({
      kind: 'failing',
      drill,
      configFile: 'c.yaml',
      now: T0,
      run,
      firstRed: run,
      redRuns: 1,
      lastPass: null,
    });
    expect(message.title).toBe(
      "ERROR: restore drill fileserver-nightly could not run — no backup set matches 'backups/*.tar.gz'",
    );
    expect(renderText(message)).toContain("Cause:        no backup set matches 'backups/*.tar.gz'");
  });

  it('mask secrets that reach a cause or a finding', () => {
    redactor.add('pa55-word-in-url', '${env:DB_PASSWORD}');
    const { message } = failing(
      [
        {
          name: 'restore',
          verdict: 'failed',
          expected: 0,
          actual: 1,
          detail: 'pg_restore failed',
          findings: [{ item: 'postgres://u:pa55-word-in-url@db/x', problem: 'unreachable' }],
        },
      ],
      'pg_restore -d postgres://u:pa55-word-in-url@db/x exited 1',
    );
    const everything =
      JSON.stringify(message) +
      renderText(message) +
      JSON.stringify(slackPayload(message)) +
      JSON.stringify(teamsPayload(message));
    expect(everything).not.toContain('pa55-word-in-url');
    expect(message.run!.cause).toBe('pg_restore -d postgres://u:${env:DB_PASSWORD}@db/x exited 1');
  });

  it('say how long a stale drill has gone without a pass', () => {
    const pass = makeRun({ drill: drill.name, verdict: 'passed', startedAt: T0 });
    const now = new Date(T0.getTime() + 9 * DAY);
    const message = buildStaleAlert({
      kind: 'stale',
      drill,
      configFile: 'c.yaml',
      now,
      maxAgeMs: 8 * DAY,
      lastPass: pass,
      lastRun: pass,
      staleSince: new Date(T0.getTime() + 8 * DAY),
    });
    expect(message.title).toBe(
      'STALE: restore drill fileserver-nightly — no passing run for 9d (maxAge 8d)',
    );
    expect(message.summary).toContain('The last run was passed at 2026-11-27T03:00:00.000Z.');
  });

  it('say a drill recovered, and after how long', () => {
    const pass = makeRun({
      drill: drill.name,
      verdict: 'passed',
      startedAt: new Date(T0.getTime() + DAY),
    });
    const message = buildRecoveredAlert({
      drill,
      configFile: 'c.yaml',
      now: new Date(T0.getTime() + DAY + 60_000),
      problem: 'failing',
      run: pass,
      since: T0.toISOString(),
      redRuns: null,
    });
    expect(message.title).toBe('RECOVERED: restore drill fileserver-nightly passed again');
    expect(message.summary).toContain(
      'passed at 2026-11-28T03:00:04.000Z restoring /backups/fileserver/2026-11-26.tar.gz, after failing for 1d.',
    );
    expect(message.severity).toBe('resolved');
  });

  it('quote the config path in the evidence command when it needs quoting', () => {
    expect(evidenceCommand('0b1c', "/etc/restore drill/it's.yaml")).toBe(
      `restore-drill show 0b1c --config '/etc/restore drill/it'\\''s.yaml'`,
    );
    expect(shellQuote('/etc/restore-drill/a.yaml')).toBe('/etc/restore-drill/a.yaml');
    expect(shellQuote('$(rm -rf /)')).toBe(`'$(rm -rf /)'`);
  });

  it('list every drill in the heartbeat, green and red', () => {
    const message = buildHeartbeat({
      now: T0,
      drills: [
        {
          name: 'a',
          owner: 'x',
          state: 'passing',
          lastVerdict: 'passed',
          lastRunAt: T0.toISOString(),
          lastPassAt: T0.toISOString(),
        },
        {
          name: 'b',
          owner: null,
          state: 'stale',
          lastVerdict: 'aborted',
          lastRunAt: T0.toISOString(),
          lastPassAt: null,
        },
      ],
    });
    expect(message.title).toBe(
      'HEARTBEAT: restore-drill — 2 drills: 1 passing, 0 failing, 1 stale',
    );
    expect(message.summary).toMatch(/^1 drill is red\./);
    expect(renderText(message)).toContain(
      'STALE     b: last run aborted 2026-11-27T03:00:00.000Z; never passed',
    );
  });
});

describe('chat payloads', () => {
  it('keep Slack within its block limits', () => {
    const { message } = failing([
      {
        name: 'x'.repeat(400),
        verdict: 'failed',
        expected: 1,
        actual: 2,
        detail: 'y'.repeat(5000),
      },
    ]);
    const long = { ...message, title: 'T'.repeat(300) };
    const payload = slackPayload(long) as {
      blocks: { type: string; text?: { text: string }; fields?: { text: string }[] }[];
    };
    const header = payload.blocks.find((block) => block.type === 'header')!;
    expect(header.text!.text.length).toBeLessThanOrEqual(150);
    for (const block of payload.blocks) {
      if (block.text) expect(block.text.text.length).toBeLessThanOrEqual(3000);
      if (block.fields) expect(block.fields.length).toBeLessThanOrEqual(10);
    }
  });

  it("escape Slack's control characters in drill data", () => {
    const { message } = failing([
      {
        name: 'manifest',
        verdict: 'failed',
        expected: 1,
        actual: 2,
        detail: '<!channel> & <@U123>',
      },
    ]);
    const payload = slackPayload(message);
    // mrkdwn (and the notification text) would turn these into @channel pings; plain_text headers show them as written.
    const mrkdwn = [
      payload.text,
      ...JSON.stringify(payload.blocks).match(/"type":"mrkdwn","text":"(?:[^"\\]|\\.)*"/g)!,
    ];
    expect(mrkdwn.join('\n')).not.toMatch(/<[!@]/);
    expect(payload.text).toContain('&lt;!channel&gt; &amp; &lt;@U123&gt;');
  });

  it('build a Teams Adaptive Card with the facts and the failed checks', () => {
    const { message } = failing();
    const card = (
      teamsPayload(message) as {
        attachments: {
          content: {
            body: { type: string; text?: string; facts?: { title: string; value: string }[] }[];
          };
        }[];
      }
    ).attachments[0]!.content;
    const facts = card.body.find((element) => element.type === 'FactSet')!.facts!;
    expect(facts.map((fact) => fact.title)).toEqual([
      'Drill',
      'Owner',
      'Backup set',
      'Run',
      'Restored',
      'Cause',
      'Since',
    ]);
    expect(card.body.some((element) => element.text?.includes('changed: etc/passwd'))).toBe(true);
  });
});

describe('the documented example', () => {
  it('is a valid alerts config', () => {
    const doc = readFileSync(new URL('../../docs/alerts.md', import.meta.url), 'utf8');
    const example = /```yaml\n([\s\S]*?)```/.exec(doc)![1]!;
    const alerts = example.slice(example.indexOf('alerts:'));
    const env = {
      SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/x',
      TEAMS_WORKFLOW_URL: 'https://example.com/w',
      SMTP_PASSWORD: 'pw-1234',
      ALERT_TOKEN: 'tok-1234',
    };
    const { config } = parseConfig(
      `drills:\n  - name: fileserver-nightly\n    tags: [tier-1]\n    source: { kind: tar, path: /b/*.tar }\n${alerts}`,
      'docs/alerts.md',
      env,
    );
    expect(Object.keys(config.alerts!.channels)).toEqual([
      'ops-slack',
      'infra-teams',
      'oncall-mail',
      'audit-hook',
    ]);
  });
});

describe('ages in messages', () => {
  it('round to what a person needs', async () => {
    const { formatAge } = await import('../../src/alerts/message.js');
    expect(formatAge(3 * DAY + 2_000)).toBe('3d');
    expect(formatAge(3 * DAY + 5 * 3_600_000 + 40 * 60_000)).toBe('3d6h');
    expect(formatAge(2 * 3_600_000 + 30_500)).toBe('2h1m');
    expect(formatAge(42_000)).toBe('42.0s');
  });
});

import { formatDuration } from '../model/duration.js';
import { formatBytes } from '../model/primitives.js';
import { checkLines, heartbeatLine, renderText, type AlertMessage } from './message.js';

/** The body formats a webhook channel can send. */
export type WebhookFormat = 'generic' | 'slack' | 'teams';

/** The JSON body for a webhook of this format. */
export function webhookPayload(message: AlertMessage, format: WebhookFormat): unknown {
  switch (format) {
    case 'generic':
      return genericPayload(message);
    case 'slack':
      return slackPayload(message);
    case 'teams':
      return teamsPayload(message);
  }
}

/**
 * The alert document itself plus `text` (its plain-text rendering), so receivers
 * that only show `text` (Mattermost, Rocket.Chat, a log collector) still say it all.
 */
export function genericPayload(message: AlertMessage): Record<string, unknown> {
  return { ...message, text: renderText(message) };
}

/** Facts a chat card lists: label and value. */
function facts(message: AlertMessage): [string, string][] {
  const out: [string, string][] = [];
  const { drill, run } = message;
  if (drill) {
    out.push(['Drill', drill.name]);
    if (drill.owner) out.push(['Owner', drill.owner]);
  }
  if (run) {
    out.push([
      'Backup set',
      run.set ? `${run.set.path}${run.set.mtime ? ` (taken ${run.set.mtime})` : ''}` : 'none found',
    ]);
    out.push(['Run', `${run.runId} — ${run.verdict}, took ${formatDuration(run.durationMs)}`]);
    out.push(['Restored', `${run.restored.files} files, ${formatBytes(run.restored.bytes)}`]);
    if (run.cause && run.verdict !== 'passed') out.push(['Cause', run.cause]);
  }
  if (message.since && message.kind !== 'recovered') out.push(['Since', message.since]);
  if (message.lastPassAt) out.push(['Last pass', message.lastPassAt]);
  return out;
}

const SLACK_EMOJI: Record<AlertMessage['severity'], string> = {
  critical: ':red_circle:',
  warning: ':large_orange_circle:',
  resolved: ':large_green_circle:',
  info: ':information_source:',
};

/** Slack's text escaping: only `&`, `<` and `>` are special. */
function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * A Slack incoming-webhook message: `text` is the notification and fallback,
 * `blocks` the laid-out message (header, summary, facts, failed checks, command).
 * Block limits (header 150 chars, section 3000, 10 fields) are respected.
 */
export function slackPayload(message: AlertMessage): { text: string; blocks: unknown[] } {
  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: clip(message.title, 150), emoji: true } },
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: clip(`${SLACK_EMOJI[message.severity]} ${slackEscape(message.summary)}`, 3000),
      },
    },
  ];
  const list = facts(message);
  if (list.length > 0) {
    blocks.push({
      type: 'section',
      fields: list.slice(0, 10).map(([label, value]) => ({
        type: 'mrkdwn',
        text: clip(`*${label}*\n${slackEscape(value)}`, 2000),
      })),
    });
  }
  if (message.failedChecks.length > 0) {
    const lines = message.failedChecks.flatMap((check) => checkLines(check));
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: clip(
          `*Failed checks (${message.failedChecks.length} of ${message.failedChecksTotal})*\n\`\`\`${slackEscape(lines.join('\n'))}\`\`\``,
          3000,
        ),
      },
    });
  }
  if (message.drills) {
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: clip(
          `\`\`\`${slackEscape(message.drills.map((drill) => heartbeatLine(drill)).join('\n'))}\`\`\``,
          3000,
        ),
      },
    });
  }
  if (message.evidenceCommand) {
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: clip(`*Full evidence*\n\`${slackEscape(message.evidenceCommand)}\``, 3000),
      },
    });
  }
  if (message.signoffCommand) {
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: clip(`*Sign it off*\n\`${slackEscape(message.signoffCommand)}\``, 3000),
      },
    });
  }
  blocks.push({
    type: 'context',
    elements: [
      { type: 'mrkdwn', text: slackEscape(`restore-drill on ${message.host} · ${message.at}`) },
    ],
  });
  return { text: slackEscape(message.title), blocks };
}

const TEAMS_COLOR: Record<AlertMessage['severity'], string> = {
  critical: 'Attention',
  warning: 'Warning',
  resolved: 'Good',
  info: 'Accent',
};

/**
 * A Microsoft Teams message for a Workflows ("Post to a channel when a webhook
 * request is received") webhook: an Adaptive Card (1.4) in a message attachment.
 */
export function teamsPayload(message: AlertMessage): Record<string, unknown> {
  const body: unknown[] = [
    {
      type: 'TextBlock',
      text: message.title,
      weight: 'Bolder',
      size: 'Medium',
      wrap: true,
      color: TEAMS_COLOR[message.severity],
    },
    { type: 'TextBlock', text: message.summary, wrap: true },
  ];
  const list = facts(message);
  if (list.length > 0)
    body.push({ type: 'FactSet', facts: list.map(([title, value]) => ({ title, value })) });
  if (message.failedChecks.length > 0) {
    body.push({
      type: 'TextBlock',
      text: `Failed checks (${message.failedChecks.length} of ${message.failedChecksTotal})`,
      weight: 'Bolder',
      wrap: true,
    });
    for (const check of message.failedChecks) {
      body.push({
        type: 'TextBlock',
        text: checkLines(check).join('\n\n'),
        wrap: true,
        fontType: 'Monospace',
        spacing: 'Small',
      });
    }
  }
  if (message.drills) {
    body.push({
      type: 'TextBlock',
      text: message.drills.map((drill) => heartbeatLine(drill)).join('\n\n'),
      wrap: true,
      fontType: 'Monospace',
    });
  }
  if (message.evidenceCommand) {
    body.push({ type: 'TextBlock', text: 'Full evidence', weight: 'Bolder', wrap: true });
    body.push({
      type: 'TextBlock',
      text: message.evidenceCommand,
      wrap: true,
      fontType: 'Monospace',
    });
  }
  if (message.signoffCommand) {
    body.push({ type: 'TextBlock', text: 'Sign it off', weight: 'Bolder', wrap: true });
    body.push({
      type: 'TextBlock',
      text: message.signoffCommand,
      wrap: true,
      fontType: 'Monospace',
    });
  }
  body.push({
    type: 'TextBlock',
    text: `restore-drill on ${message.host} · ${message.at}`,
    isSubtle: true,
    size: 'Small',
    wrap: true,
  });
  return {
    type: 'message',
    // Workflows shows `summary` in notifications; older connectors ignore it.
    summary: message.title,
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          msteams: { width: 'Full' },
          body,
        },
      },
    ],
  };
}

import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Config, DrillConfig } from '../config/schema.js';
import type { Database } from '../evidence/database.js';
import type { Logger } from '../log/logger.js';
import {
  loadOpenProblem,
  recordAlertEvent,
  type AlertEvent,
  type NewAlertEvent,
} from '../alerts/alert-log.js';
import type { AlertsConfig } from '../alerts/alerts-config.js';
import type { RetryPolicy } from '../alerts/backoff.js';
import type { AlertChannel, DeliveryResult } from '../alerts/channel.js';
import { AlertDispatcher, type DeliveryReport } from '../alerts/dispatcher.js';
import { loadDrillHistory } from '../alerts/history.js';
import {
  buildFailingAlert,
  buildHeartbeat,
  buildRecoveredAlert,
  buildStaleAlert,
  buildTestMessage,
  buildUnreviewedAlert,
  type AlertDrill,
  type AlertMessage,
  type HeartbeatDrill,
} from '../alerts/message.js';
import { createChannel } from '../alerts/registry.js';
import { routeChannels } from '../alerts/routing.js';
import { loadUnreviewedFailures } from '../alerts/unreviewed.js';
import {
  decideAlerts,
  drillState,
  type AlertDecision,
  type DrillHistory,
  type DrillState,
} from '../alerts/state.js';

export interface AlertingOptions {
  /** The loaded config: its `alerts` block, its drills, and the file (named in evidence commands). */
  loaded: { config: Config; file: string };
  db: Kysely<Database>;
  log: Logger;
  /** The clock (tests move it). */
  now?: () => Date;
  /**
   * Since when this process has been watching (the daemon's start): a drill with
   * no run at all goes stale once its maxAge has passed since then. Without it,
   * such a drill is never called stale (nobody knows how long it has existed).
   */
  watchingSince?: Date | undefined;
}

/** What the stale-check job (jobs/stale-check.ts) takes. */
export interface StaleCheckPayload {
  /**
   * Since when the caller has been watching (the daemon's start): a drill with no
   * run at all goes stale once its maxAge has passed since then.
   */
  watchingSince?: Date | undefined;
  /** How long to keep retrying failed sends before leaving them in the log for the next check (default 60 s). */
  waitMs?: number | undefined;
}

/** What the stale-check job found and did. */
export interface StaleCheckResult {
  /** Every drill's state after the check. */
  drills: DrillStatus[];
  /** Alerts this check raised (stale, and any failing/recovered/reminder the runs call for). */
  raised: AlertEvent[];
  /** Drills whose evaluation failed (the database, a corrupt record), with why. */
  errors: { drill: string; error: unknown }[];
  /** Null without an `alerts` block. */
  delivery: DeliveryReport | null;
}

/** What the heartbeat job (jobs/heartbeat.ts) takes. */
export interface HeartbeatPayload {
  /** The cron slot of `alerts.heartbeat.schedule` this run fills: one heartbeat per slot, across replicas. */
  slot: Date;
  /** How long to keep retrying failed sends (default 60 s). */
  waitMs?: number | undefined;
}

/** The heartbeat job's outcome. */
export interface HeartbeatResult {
  /** The heartbeat, and whether this run raised it (false: another replica did). Null without `alerts`. */
  heartbeat: { event: AlertEvent; created: boolean } | null;
  delivery: DeliveryReport | null;
}

/** What `alerts test` found for one channel. */
export interface ChannelTestResult {
  channel: string;
  kind: string;
  target: string;
  result: DeliveryResult;
}

/** A drill's state for summaries (heartbeat, `alerts status`). */
export interface DrillStatus extends HeartbeatDrill {
  state: HeartbeatDrill['state'];
}

/** No retries configured: what `alerts test` and an absent `alerts.retry` mean. */
const DEFAULT_RETRY: RetryPolicy = {
  attempts: 10,
  initialDelay: 10_000,
  maxDelay: 600_000,
  giveUpAfter: 3 * 86_400_000,
};

/**
 * Alerting over the evidence database: decides which alerts the drills' runs
 * call for (one per change of state, reminders while red), records each once in
 * the alert log with the channels its routes choose, and delivers the log
 * reliably through the dispatcher. Without an `alerts` block in the config it
 * decides and sends nothing.
 */
export class Alerting {
  readonly config: AlertsConfig | undefined;
  readonly channels: ReadonlyMap<string, AlertChannel>;
  readonly dispatcher: AlertDispatcher;
  readonly #drills: ReadonlyMap<string, DrillConfig>;
  readonly #db: Kysely<Database>;
  readonly #log: Logger;
  readonly #now: () => Date;
  readonly #configFile: string;
  readonly #watchingSince: Date | null;
  readonly #maxUnreviewedMs: number;

  constructor(options: AlertingOptions) {
    this.config = options.loaded.config.alerts;
    this.#drills = new Map(options.loaded.config.drills.map((drill) => [drill.name, drill]));
    this.#db = options.db;
    this.#log = options.log;
    this.#now = options.now ?? (() => new Date());
    this.#configFile = path.resolve(options.loaded.file);
    this.#watchingSince = options.watchingSince ?? null;
    this.#maxUnreviewedMs = options.loaded.config.review.maxUnreviewed;
    const channels = createChannels(this.config, options.log);
    this.channels = channels;
    this.dispatcher = new AlertDispatcher({
      db: options.db,
      channels,
      retry: this.config?.retry ?? DEFAULT_RETRY,
      log: options.log,
      now: this.#now,
    });
  }

  /** True when the config has an `alerts` block. */
  get enabled(): boolean {
    return this.config !== undefined;
  }

  /**
   * Decides and records the alerts one drill's runs call for now (a new failure,
   * a recovery, staleness, a reminder, a failed run left unreviewed). Returns the
   * alerts this call raised; an alert some other process raised first is not
   * raised again.
   */
  async evaluateDrill(name: string): Promise<AlertEvent[]> {
    const alerts = this.config;
    const drill = this.#drills.get(name);
    if (!alerts || !drill) return [];
    const now = this.#now();
    const [history, open] = await Promise.all([
      loadDrillHistory(this.#db, name),
      loadOpenProblem(this.#db, name),
    ]);
    const state = drillState(history, drill, now, this.#watchingSince);
    const decisions = decideAlerts({
      drill: name,
      state,
      open,
      now,
      remindEveryMs: alerts.remindEvery,
    });
    const raised: AlertEvent[] = [];
    for (const decision of decisions) {
      const message = this.#message(decision, drill, history, now);
      const channels = routeChannels(alerts, toAlertDrill(drill), decision.kind);
      const runId = message.run?.runId ?? null;
      const event = await this.#record({
        dedupeKey: decision.key,
        kind: decision.kind,
        drill: name,
        problemKey: decision.problemKey,
        runId,
        createdAt: now,
        channels,
        message,
      });
      if (event) raised.push(event);
    }
    raised.push(...(await this.#unreviewed(drill, now)));
    return raised;
  }

  /**
   * One `unreviewed` alert per failed run left without a review past
   * `review.maxUnreviewed`: keyed by the run, so it fires once whoever asks; a
   * review recorded first means it never fires. Not a problem of the drill's
   * state machine (no problem key): a red drill's own alerts go on as before.
   */
  async #unreviewed(drill: DrillConfig, now: Date): Promise<AlertEvent[]> {
    const alerts = this.config;
    if (!alerts) return [];
    const runs = await loadUnreviewedFailures(this.#db, {
      drill: drill.name,
      startedBefore: new Date(now.getTime() - this.#maxUnreviewedMs),
    });
    const raised: AlertEvent[] = [];
    const alertDrill = toAlertDrill(drill);
    for (const run of runs) {
      const event = await this.#record({
        dedupeKey: `unreviewed:${run.runId}`,
        kind: 'unreviewed',
        drill: drill.name,
        problemKey: null,
        runId: run.runId,
        createdAt: now,
        channels: routeChannels(alerts, alertDrill, 'unreviewed'),
        message: buildUnreviewedAlert({
          drill: alertDrill,
          configFile: this.#configFile,
          now,
          run,
          maxUnreviewedMs: this.#maxUnreviewedMs,
        }),
      });
      if (event) raised.push(event);
    }
    return raised;
  }

  /** Records an alert once; the event when this call raised it, null when another process did first. */
  async #record(alert: NewAlertEvent): Promise<AlertEvent | null> {
    const { event, created } = await recordAlertEvent(this.#db, alert);
    if (!created) return null;
    const fields = { drill: alert.drill, alert: event.dedupeKey, channels: alert.channels };
    if (alert.channels.length === 0)
      this.#log.warn(
        fields,
        `alert not sent: no route takes ${alert.kind} alerts of drill ${alert.drill ?? '-'}`,
      );
    else this.#log.info(fields, alert.message.title);
    return event;
  }

  /** `evaluateDrill` for every configured drill; one drill's database error does not stop the others. */
  async evaluateAll(): Promise<{
    raised: AlertEvent[];
    errors: { drill: string; error: unknown }[];
  }> {
    const raised: AlertEvent[] = [];
    const errors: { drill: string; error: unknown }[] = [];
    for (const name of this.#drills.keys()) {
      try {
        raised.push(...(await this.evaluateDrill(name)));
      } catch (error) {
        errors.push({ drill: name, error });
        this.#log.error({ drill: name, err: error }, 'could not evaluate alerts for drill');
      }
    }
    return { raised, errors };
  }

  /**
   * Delivers what the log holds: with the dispatcher's background loop running
   * (the daemon), wakes it and returns; otherwise sends now and retries for up to
   * `waitMs` (what is left is retried by the next process that delivers).
   */
  async deliver(
    options: { waitMs?: number; signal?: AbortSignal | undefined } = {},
  ): Promise<DeliveryReport | null> {
    if (!this.config) return null;
    const until = new Date(this.#now().getTime() + (options.waitMs ?? 0));
    return this.dispatcher.drain({ until, signal: options.signal });
  }

  /**
   * After a run of `drill` (the drill job calls this): decides its alerts and
   * delivers them. With the dispatcher's background loop running (the daemon),
   * wakes it and returns at once; otherwise retries for up to `waitMs`.
   */
  async afterRun(
    drill: string,
    options: { waitMs?: number; signal?: AbortSignal | undefined } = {},
  ): Promise<{ raised: AlertEvent[]; delivery: DeliveryReport | null }> {
    const raised = await this.evaluateDrill(drill);
    if (this.dispatcher.running) {
      this.dispatcher.notify();
      return { raised, delivery: null };
    }
    // Nothing new: one pass for what earlier runs left pending, without waiting on it.
    return {
      raised,
      delivery: await this.deliver(raised.length > 0 ? options : { ...options, waitMs: 0 }),
    };
  }

  /** Every drill's state now, for heartbeats and status output. */
  async drillStatuses(): Promise<DrillStatus[]> {
    const now = this.#now();
    const out: DrillStatus[] = [];
    for (const drill of this.#drills.values()) {
      const history = await loadDrillHistory(this.#db, drill.name);
      const state = drillState(history, drill, now, this.#watchingSince);
      out.push({
        name: drill.name,
        owner: drill.owner ?? null,
        state: state.kind === 'ok' ? (history.lastPass ? 'passing' : 'never-run') : state.kind,
        lastVerdict: history.latest?.verdict ?? null,
        lastRunAt: history.latest?.startedAt ?? null,
        lastPassAt: history.lastPass?.startedAt ?? null,
      });
    }
    return out;
  }

  /**
   * Raises the heartbeat for one schedule slot (once per slot across replicas),
   * to `alerts.heartbeat.channels` or every channel. Null without `alerts`.
   */
  async raiseHeartbeat(slot: Date): Promise<{ event: AlertEvent; created: boolean } | null> {
    const alerts = this.config;
    if (!alerts) return null;
    const message = buildHeartbeat({ drills: await this.drillStatuses(), now: this.#now() });
    const channels = alerts.heartbeat?.channels ?? Object.keys(alerts.channels);
    const recorded = await recordAlertEvent(this.#db, {
      dedupeKey: `heartbeat:${slot.toISOString()}`,
      kind: 'heartbeat',
      drill: null,
      problemKey: null,
      runId: null,
      createdAt: this.#now(),
      channels,
      message,
    });
    if (recorded.created)
      this.#log.info({ alert: recorded.event.dedupeKey, channels }, message.title);
    return recorded;
  }

  /**
   * Sends a test message through each channel (or those named) once, right now,
   * without the log or retries, and says what each receiver answered.
   */
  async testChannels(
    names?: readonly string[],
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<ChannelTestResult[]> {
    return testChannels(this.channels, names, { ...options, now: this.#now() });
  }

  #message(
    decision: AlertDecision,
    drill: DrillConfig,
    history: DrillHistory,
    now: Date,
  ): AlertMessage {
    const common = { drill: toAlertDrill(drill), configFile: this.#configFile, now };
    switch (decision.kind) {
      case 'failing':
        return failingMessage('failing', decision.state, history, common);
      case 'stale':
        return staleMessage('stale', decision.state, history, common);
      case 'reminder':
        return decision.state.kind === 'failing'
          ? failingMessage('reminder', decision.state, history, common)
          : staleMessage('reminder', decision.state, history, common);
      case 'recovered': {
        // A stale spell ended without a new pass (maxAge raised or removed): no run to show.
        const sameSpell =
          decision.problem === 'stale' &&
          decision.problemKey === `stale:${drill.name}:${history.lastPass?.runId ?? 'never'}`;
        return buildRecoveredAlert({
          ...common,
          problem: decision.problem,
          run: sameSpell ? null : history.lastPass,
          since: decision.openedAt.toISOString(),
          redRuns: null,
        });
      }
    }
  }
}

/** The configured channels by name (none without an `alerts` block). */
export function createChannels(
  alerts: AlertsConfig | undefined,
  log: Logger,
): Map<string, AlertChannel> {
  const channels = new Map<string, AlertChannel>();
  for (const [name, config] of Object.entries(alerts?.channels ?? {})) {
    channels.set(name, createChannel(name, config, { log: log.child({ channel: name }) }));
  }
  return channels;
}

/**
 * Sends a test message through each channel (or those named) once, right now,
 * without the alert log or retries (and so without the database), and says what
 * each receiver answered. An unknown name is an error naming the channels there are.
 */
export async function testChannels(
  channels: ReadonlyMap<string, AlertChannel>,
  names?: readonly string[],
  options: { signal?: AbortSignal | undefined; now?: Date } = {},
): Promise<ChannelTestResult[]> {
  const chosen = names && names.length > 0 ? names : [...channels.keys()];
  for (const name of chosen) {
    if (!channels.has(name))
      throw new Error(
        `'${name}' is not a channel; expected one of ${[...channels.keys()].map((n) => `'${n}'`).join(', ')}`,
      );
  }
  return Promise.all(
    chosen.map(async (name) => {
      const channel = channels.get(name) as AlertChannel;
      const result = await channel.send(
        buildTestMessage({ channel: name, now: options.now ?? new Date() }),
        { signal: options.signal },
      );
      return { channel: name, kind: channel.kind, target: channel.target, result };
    }),
  );
}

type Common = { drill: AlertDrill; configFile: string; now: Date };

function failingMessage(
  kind: 'failing' | 'reminder',
  state: Extract<DrillState, { kind: 'failing' }>,
  history: DrillHistory,
  common: Common,
) {
  return buildFailingAlert({
    ...common,
    kind,
    run: state.latestRed,
    firstRed: state.firstRed,
    redRuns: state.redRuns,
    lastPass: history.lastPass,
  });
}

function staleMessage(
  kind: 'stale' | 'reminder',
  state: Extract<DrillState, { kind: 'stale' }>,
  history: DrillHistory,
  common: Common,
) {
  return buildStaleAlert({
    ...common,
    kind,
    maxAgeMs: state.maxAgeMs,
    lastPass: history.lastPass,
    lastRun: history.latest,
    staleSince: state.since,
  });
}

/** The parts of a drill's config alerts use. */
export function toAlertDrill(drill: DrillConfig): AlertDrill {
  return {
    name: drill.name,
    owner: drill.owner,
    description: drill.description,
    tags: drill.tags,
    maxAge: drill.maxAge,
  };
}

import { Alerting } from '../src/alerts/alerting.js';
import type { AlertEvent } from '../src/alerts/alert-log.js';
import type { DeliveryReport } from '../src/alerts/dispatcher.js';
import type { Job } from '../src/schedule/job.js';

export interface HeartbeatPayload {
  /** The cron slot of `alerts.heartbeat.schedule` this run fills: one heartbeat per slot, across replicas. */
  slot: Date;
  /** How long to keep retrying failed sends (default 60 s). */
  waitMs?: number;
}

export interface HeartbeatResult {
  /** The heartbeat, and whether this run raised it (false: another replica did). Null without `alerts`. */
  heartbeat: { event: AlertEvent; created: boolean } | null;
  delivery: DeliveryReport | null;
}

/**
 * The heartbeat: a summary of every drill, green and red, sent on
 * `alerts.heartbeat.schedule` to prove the alert path itself works. A silent week
 * means the path is broken, not that all is well.
 */
export const heartbeatJob: Job<HeartbeatPayload, HeartbeatResult> = {
  name: 'heartbeat',
  async run(payload, context) {
    const alerting = new Alerting({ loaded: context.loaded, db: context.db, log: context.log });
    if (!alerting.enabled) return { heartbeat: null, delivery: null };
    const heartbeat = await alerting.raiseHeartbeat(payload.slot);
    const delivery = await alerting.deliver({ waitMs: payload.waitMs ?? 60_000, signal: context.signal });
    return { heartbeat, delivery };
  },
};

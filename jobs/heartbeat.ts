import { Alerting, type HeartbeatPayload, type HeartbeatResult } from '../src/schedule/alerting.js';
import type { Job } from '../src/schedule/job.js';

/**
 * The heartbeat: a summary of every drill, green and red, sent on
 * `alerts.heartbeat.schedule` to prove the alert path itself works. A silent week
 * means the path is broken, not that all is well.
 */
export const heartbeatJob: Job<HeartbeatPayload, HeartbeatResult> = {
  name: 'heartbeat',
  async run(payload, { loaded, db, log, signal }) {
    const alerting = new Alerting({ loaded, db, log });
    if (!alerting.enabled) return { heartbeat: null, delivery: null };
    const heartbeat = await alerting.raiseHeartbeat(payload.slot);
    const delivery = await alerting.deliver({ waitMs: payload.waitMs ?? 60_000, signal });
    return { heartbeat, delivery };
  },
};

import { runDrill, type DrillJobPayload, type RunDrillRequest, type RunDrillResult } from '../src/drill/run-drill.js';
import type { Job } from '../src/schedule/job.js';

/** A drill job; `createSource` replaces the registry's factory (tests wrap real sources with it). */
export function createDrillJob(options: Pick<RunDrillRequest, 'createSource'> = {}): Job<DrillJobPayload, RunDrillResult> {
  return {
    name: 'drill',
    async run(payload, { loaded, db, log, signal, gate }) {
      const drill = loaded.config.drills.find((candidate) => candidate.name === payload.drill);
      if (!drill) throw new Error(`no drill named '${payload.drill}' in ${loaded.file}`);
      return runDrill({
        drill,
        config: loaded.config,
        configDir: loaded.dir,
        db,
        log,
        trigger: payload.trigger,
        scheduledFor: payload.scheduledFor ?? null,
        replay: payload.replay ?? null,
        ...(signal ? { signal } : {}),
        ...(gate ? { gate } : {}),
        ...(options.createSource ? { createSource: options.createSource } : {}),
      });
    },
  };
}

/** The restore drill: select, restore, verify, record. */
export const drillJob = createDrillJob();

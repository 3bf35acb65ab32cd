import { runDrill, type DrillJobPayload, type RunDrillResult } from '../src/drill/run-drill.js';
import type { Job } from '../src/schedule/job.js';

/** The restore drill: select, restore, verify, record. */
export const drillJob: Job<DrillJobPayload, RunDrillResult> = {
  name: 'drill',
  async run(payload, { loaded, db, log, signal }) {
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
    });
  },
};

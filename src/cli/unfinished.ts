import { hostname } from 'node:os';
import type { RunStart } from '../evidence/runs.js';
import { isProcessAlive } from '../exec/process-identity.js';

/** How an unfinished run stands: its process alive on this host, gone, or on another host (not judged here). */
export type UnfinishedState = 'running' | 'abandoned' | 'elsewhere';

/** Judges a started run without a result by its recorded process (pid, start time, boot id). */
export function unfinishedState(start: RunStart): UnfinishedState {
  if (start.host !== hostname()) return 'elsewhere';
  return isProcessAlive(start.pid, {
    ...(start.processStart === undefined ? {} : { processStart: start.processStart }),
    ...(start.bootId === undefined ? {} : { bootId: start.bootId }),
  })
    ? 'running'
    : 'abandoned';
}

/** The `history` mark of an unfinished run. */
export function unfinishedMark(state: UnfinishedState): 'RUNNING' | 'ABANDON' {
  return state === 'abandoned' ? 'ABANDON' : 'RUNNING';
}

/** Where the run's process is and what becomes of the run, in words. */
export function unfinishedDetail(start: RunStart, state: UnfinishedState): string {
  return {
    running: `process ${start.pid} on this host`,
    abandoned: `process ${start.pid} on this host is gone; the next run or daemon start records it aborted`,
    elsewhere: `process ${start.pid} on ${start.host}; not judged from here`,
  }[state];
}

/** An unfinished run as `history --json` and `show --json` print it. */
export function unfinishedToJson(start: RunStart, state: UnfinishedState) {
  return {
    runId: start.runId,
    drill: start.drill,
    state,
    startedAt: start.startedAt.toISOString(),
    trigger: start.trigger,
    host: start.host,
    pid: start.pid,
    scratchDir: start.scratchDir,
  };
}

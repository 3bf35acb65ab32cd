import { statfs } from 'node:fs/promises';
import type { PhaseName } from './drill-run.js';

/**
 * How far a run has got, for people watching (a terminal status line) and log shippers.
 * Bytes and entries restored are read off the scratch file system (its used blocks and
 * inodes since the restore began): the same for every source kind, whether it writes
 * itself or through restic, pg_restore or a command, and costing one statfs a second.
 * Other writers on the same file system blur the count, so it only ever rises.
 */
export interface DrillProgress {
  drill: string;
  runId: string;
  /** The phase running now; `finished` once the run is recorded. */
  phase: PhaseName | 'finished';
  /** When the run started (epoch ms), for elapsed time and rate. */
  startedAtMs: number;
  /** While restoring: bytes and entries (files, folders, links) written to scratch so far. */
  bytes?: number;
  entries?: number;
  /** While restoring: what the restore is expected to write, where known. */
  totalBytes?: number | null;
  totalItems?: number | null;
  /** While restoring: when the restore began (epoch ms), for its rate and time left. */
  restoreStartedAtMs?: number;
}

export type ProgressListener = (progress: DrillProgress) => void;

/** How often a restore's progress is measured. */
const METER_INTERVAL_MS = 1_000;

/** Measures what a restore writes into `scratchDir` every second until `stop()`. */
export async function startRestoreMeter(
  scratchDir: string,
  base: Omit<DrillProgress, 'phase' | 'bytes' | 'entries' | 'restoreStartedAtMs'>,
  listener: ProgressListener,
): Promise<{ stop(): void }> {
  const restoreStartedAtMs = Date.now();
  const start = await statfs(scratchDir).catch(() => null);
  const emit = (bytes: number, entries: number): void =>
    listener({ ...base, phase: 'restore', bytes, entries, restoreStartedAtMs });
  emit(0, 0);
  if (start === null) return { stop: () => undefined };
  let stopped = false;
  let highBytes = 0;
  let highEntries = 0;
  const timer = setInterval(() => {
    void statfs(scratchDir).then(
      (now) => {
        if (stopped) return;
        const bytes = (Number(start.bfree) - Number(now.bfree)) * Number(now.bsize);
        highBytes = Math.max(highBytes, bytes);
        highEntries = Math.max(highEntries, Number(start.ffree) - Number(now.ffree));
        emit(highBytes, highEntries);
      },
      () => undefined,
    );
  }, METER_INTERVAL_MS);
  timer.unref();
  return {
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}

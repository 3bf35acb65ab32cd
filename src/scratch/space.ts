import { stat, statfs } from 'node:fs/promises';
import { ScratchError } from './scratch-dir.js';
import { formatBytes } from '../model/primitives.js';

/**
 * Scratch has no room for the restore: the run's verdict is `error` (the drill could
 * not judge the backup), with the cause `scratch full: needed at least N, F free on PATH`.
 */
export class ScratchFullError extends ScratchError {
  /** Stable cause code for evidence and alerts. */
  readonly code = 'scratch.full';
  constructor(
    /** A lower bound on the space the restore needs. */
    readonly neededBytes: number,
    readonly freeBytes: number,
    readonly dir: string,
    /** Why, in a few words: the pre-check's arithmetic, the floor, the write that failed. */
    why: string,
    options?: { cause?: unknown },
  ) {
    super(
      `scratch full: needed at least ${formatBytes(neededBytes)}, ${formatBytes(freeBytes)} free on ${dir} (${why})`,
      { ...options, code: 'scratch.full' },
    );
  }
}

/** Space promised to restores running in this process, per file system (device id): they have not written it yet. */
const reserved = new Map<number, number>();

/** Free space on the file system holding `dir`, for an unprivileged writer. */
export async function freeBytes(dir: string): Promise<number> {
  const info = await statfs(dir);
  return Number(info.bavail) * Number(info.bsize);
}

/** A claim on scratch space; `release` is idempotent. */
export interface SpaceReservation {
  /** Bytes needed (expected size × margin). */
  readonly needed: number;
  /** Free bytes seen, less what other restores of this process had reserved. */
  readonly available: number;
  release(): void;
}

/**
 * Checks, before a restore, that the file system holding `dir` has room for
 * `expectedBytes × margin`, counting what other restores of this process have
 * reserved and not yet written, and reserves it until `release`. Throws a
 * ScratchError saying how much is needed and free, so the drill fails with
 * that message instead of filling the disk.
 */
export async function reserveScratchSpace(
  dir: string,
  expectedBytes: number,
  margin: number,
  floorBytes = 0,
): Promise<SpaceReservation> {
  const needed = Math.ceil(expectedBytes * margin);
  let device: number;
  let free: number;
  try {
    device = (await stat(dir)).dev;
    free = await freeBytes(dir);
  } catch (error) {
    throw new ScratchError(`cannot measure free space in ${dir}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const others = reserved.get(device) ?? 0;
  const available = Math.max(0, free - others);
  if (needed + floorBytes > available) {
    const promised =
      others > 0 ? `; ${formatBytes(others)} of it promised to restores already running` : '';
    const floor = floorBytes > 0 ? ` + floor ${formatBytes(floorBytes)} (scratch.minFree)` : '';
    throw new ScratchFullError(
      needed,
      free,
      dir,
      `expected ${formatBytes(expectedBytes)} × scratch margin ${margin}${floor}${promised}; free some space, move scratch.root, or lower daemon.scratchMargin`,
    );
  }
  reserved.set(device, others + needed);
  let held = true;
  return {
    needed,
    available,
    release() {
      if (!held) return;
      held = false;
      const left = (reserved.get(device) ?? needed) - needed;
      if (left > 0) reserved.set(device, left);
      else reserved.delete(device);
    },
  };
}

/** Below this share of the scratch file system (capped by `DEFAULT_FLOOR_CAP`), a restore stops. */
const DEFAULT_FLOOR_SHARE = 0.02;
const DEFAULT_FLOOR_CAP = 512 * 1024 * 1024;

/** `scratch.minFree`, or by default the smaller of 512 MiB and 2 % of the file system holding `dir`. */
export async function scratchFloor(dir: string, configured: number | undefined): Promise<number> {
  if (configured !== undefined) return configured;
  const info = await statfs(dir);
  return Math.min(
    DEFAULT_FLOOR_CAP,
    Math.floor(Number(info.blocks) * Number(info.bsize) * DEFAULT_FLOOR_SHARE),
  );
}

/** A restore's watch on scratch space: `signal` aborts with a ScratchFullError once free space falls under the floor. */
export interface SpaceWatch {
  readonly signal: AbortSignal;
  /** The error for a write that failed with ENOSPC (or a tool that said so), measured now. */
  full(why: string, cause?: unknown): Promise<ScratchFullError>;
  /** Measures once more (a restore may end between two polls) and aborts when under the floor. */
  poll(): Promise<void>;
  stop(): void;
}

/**
 * Watches free space in `dir` while a restore writes, whatever writes it (this process, a
 * worker thread, a child process): every `intervalMs` it measures, and under `floorBytes`
 * it aborts `signal` so the restore stops before the disk is full. `expectedBytes` (when
 * known) and what was written since the start give the "needed at least" of the message.
 */
export async function watchScratchSpace(
  dir: string,
  options: { floorBytes: number; expectedBytes: number | null; intervalMs?: number },
): Promise<SpaceWatch> {
  const controller = new AbortController();
  const freeAtStart = await freeBytes(dir);
  const measure = async (why: string, cause?: unknown): Promise<ScratchFullError> => {
    const free = await freeBytes(dir).catch(() => 0);
    const written = Math.max(0, freeAtStart - free);
    // The restore was not done: it needs more than it wrote, and at least what was expected.
    const needed = Math.max(options.expectedBytes ?? 0, written + 1);
    return new ScratchFullError(
      needed,
      free,
      dir,
      why,
      cause === undefined ? undefined : { cause },
    );
  };
  let polling = false;
  const poll = async (): Promise<void> => {
    if (polling || controller.signal.aborted) return;
    polling = true;
    try {
      const free = await freeBytes(dir);
      if (free < options.floorBytes && !controller.signal.aborted)
        controller.abort(
          await measure(
            `stopped under the floor of ${formatBytes(options.floorBytes)} free, scratch.minFree`,
          ),
        );
    } catch {
      // A folder removed under us ends the watch; the restore reports its own error.
    } finally {
      polling = false;
    }
  };
  const timer = setInterval(() => void poll(), options.intervalMs ?? 250);
  timer.unref();
  return {
    signal: controller.signal,
    full: measure,
    poll,
    stop: () => clearInterval(timer),
  };
}

/** True when `error` (or an error it wraps) is a full disk, or a tool's output says so. */
export function isNoSpace(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 8; depth++) {
    const code = (current as { code?: unknown }).code;
    if (code === 'ENOSPC') return true;
    const message =
      current instanceof Error ? current.message : typeof current === 'string' ? current : '';
    if (NO_SPACE.test(message)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** How tools and Node word a full disk. */
export const NO_SPACE = /\bENOSPC\b|no space left on device|disk quota exceeded|\bEDQUOT\b/i;

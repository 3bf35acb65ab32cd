import { stat, statfs } from 'node:fs/promises';
import { ScratchError } from './scratch-dir.js';

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
  if (needed > available) {
    const promised =
      others > 0
        ? ` (${formatSize(free)} free, ${formatSize(others)} of it promised to restores already running)`
        : '';
    throw new ScratchError(
      `not enough free space for the restore in ${dir}: needs ${formatSize(needed)} (expected ${formatSize(expectedBytes)} × scratch margin ${margin}), ` +
        `${formatSize(available)} available${promised}; free some space, move scratch.root, or lower daemon.scratchMargin`,
      { code: 'scratch.full' },
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

/** `1.5 GB`: sizes in messages, decimal units like `df -H`. */
export function formatSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0
    ? `${Math.round(value)} B`
    : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

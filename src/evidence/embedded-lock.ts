import { isProcessAlive, ownProcessIdentity } from '../exec/process-identity.js';
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { Logger } from '../log/logger.js';
import { EvidenceError } from './errors.js';

/** Who holds an embedded data folder: what the lock file says. */
export const lockHolderSchema = z.object({
  pid: z.number().int().positive(),
  host: z.string(),
  /** ISO 8601: when the holder took the lock. */
  since: z.string(),
  /**
   * The holder's start ticks and boot id (src/exec/process-identity.ts), so a reused pid is not
   * taken for the holder; absent in lock files written before they were recorded (pid only).
   */
  processStart: z.number().int().nonnegative().nullable().optional(),
  bootId: z.string().nullable().optional(),
});
export type LockHolder = z.infer<typeof lockHolderSchema>;

/** A lock this process holds; `release` is idempotent and never throws. */
export interface HeldLock {
  readonly path: string;
  readonly holder: LockHolder;
  release(): void;
}

export interface AcquireLockOptions {
  /** The lock file, e.g. `<embeddedDir>/lock`. */
  lockPath: string;
  /** The folder the lock guards, named in errors. */
  dataDir: string;
  log: Logger;
}

/** A writer between its exclusive create and its write leaves an empty file for a moment. */
const UNREADABLE_RETRIES = 10;
const RETRY_DELAY_MS = 50;
/** A take-over guard older than this was left by a process that died while taking over. */
const STALE_GUARD_MS = 10_000;

/**
 * Takes the single-process lock of an embedded PGlite folder (two processes on
 * one folder lose data without any error). The lock file is created with O_EXCL
 * and holds pid, host, start time and the holder's process identity. A lock whose
 * holder is gone on this host (no such pid, a zombie, or a pid now held by another
 * process) is taken over; a live one, or one from another host (whose pid cannot be
 * checked), is refused with an error naming the holder. Released on `release()`
 * and when the process exits.
 */
export async function acquireEmbeddedLock(options: AcquireLockOptions): Promise<HeldLock> {
  const { lockPath, dataDir, log } = options;
  const mine: LockHolder = {
    pid: process.pid,
    host: hostname(),
    since: new Date().toISOString(),
    ...ownProcessIdentity(),
  };
  const content = `${JSON.stringify(mine)}\n`;
  let unreadable = 0;
  for (;;) {
    if (createExclusive(lockPath, content)) return holdLock(lockPath, mine, content);
    const found = readLock(lockPath);
    if (found === 'missing') continue;
    if (found === 'unreadable') {
      if (++unreadable <= UNREADABLE_RETRIES) {
        await sleep(RETRY_DELAY_MS);
        continue;
      }
      throw new EvidenceError(
        'locked',
        `evidence database ${dataDir} has an unreadable lock file ${lockPath}; if no restore-drill process uses that folder, delete the lock file`,
      );
    }
    const { holder, text } = found;
    if (holder.host !== mine.host) {
      throw new EvidenceError(
        'locked',
        `evidence database ${dataDir} is in use by pid ${holder.pid} on host ${holder.host} since ${holder.since}; ` +
          `embedded PGlite is single-process: stop that process or configure database.url ` +
          `(this host cannot check a process on another host: if it is gone, delete ${lockPath})`,
      );
    }
    const identity = { processStart: holder.processStart ?? null, bootId: holder.bootId ?? null };
    if (isProcessAlive(holder.pid, identity)) {
      const who =
        holder.pid === process.pid ? `pid ${holder.pid} (this process)` : `pid ${holder.pid}`;
      throw new EvidenceError(
        'locked',
        `evidence database ${dataDir} is in use by ${who} on host ${holder.host} since ${holder.since}; ` +
          `embedded PGlite is single-process: stop that process or configure database.url`,
      );
    }
    if (await removeStaleLock(lockPath, text)) {
      log.warn(
        { lockPath, holder },
        'took over the evidence database lock of a process that is gone',
      );
    }
  }
}

/** Creates the file only if it does not exist; false when it does. */
function createExclusive(path: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(path);
    throw error;
  }
  closeSync(fd);
  return true;
}

function readLock(path: string): 'missing' | 'unreadable' | { holder: LockHolder; text: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
  try {
    const parsed = lockHolderSchema.safeParse(JSON.parse(text));
    return parsed.success ? { holder: parsed.data, text } : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

/**
 * Deletes a dead holder's lock, unless someone replaced it meanwhile. A guard file
 * makes the check-and-delete exclusive: without it, two processes taking over at
 * once could each delete the other's fresh lock and both believe they hold it.
 */
async function removeStaleLock(lockPath: string, staleText: string): Promise<boolean> {
  const guard = `${lockPath}.takeover`;
  if (!createExclusive(guard, `${process.pid}\n`)) {
    try {
      if (Date.now() - statSync(guard).mtimeMs > STALE_GUARD_MS) unlinkSync(guard);
    } catch {
      // The other process finished its take-over meanwhile.
    }
    await sleep(RETRY_DELAY_MS);
    return false;
  }
  try {
    const current = readLock(lockPath);
    if (typeof current === 'object' && current.text === staleText) {
      unlinkSync(lockPath);
      return true;
    }
    return false;
  } finally {
    unlinkSync(guard);
  }
}

function holdLock(path: string, holder: LockHolder, content: string): HeldLock {
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    process.off('exit', release);
    try {
      // Only our own lock: never delete one that a later process took over.
      if (readFileSync(path, 'utf8') === content) unlinkSync(path);
    } catch {
      // Already gone.
    }
  };
  process.on('exit', release);
  return { path, holder, release };
}

import { chmod, lstat, mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { CauseCode, CodedError } from '../model/causes.js';

/** Thrown when a scratch folder cannot be made, removed, or placed where asked (or has no room: `scratch.full`). */
export class ScratchError extends Error implements CodedError {
  override readonly name = 'ScratchError';
  readonly causeCode: CauseCode;
  constructor(message: string, options?: { cause?: unknown; code?: CauseCode }) {
    super(message, options);
    this.causeCode = options?.code ?? 'scratch.unusable';
  }
}

/**
 * Makes a fresh, private (0700) folder for one run under `root`, named
 * `<drill>-<UTC timestamp>-<first 8 characters of runId>` so a person can tell runs
 * apart and a sweep can find old ones. Creates `root` (0700) when missing; fails if
 * the folder already exists rather than reuse one.
 */
export async function createScratchDir(
  root: string,
  drill: string,
  runId: string,
  options: { now?: Date } = {},
): Promise<string> {
  const absoluteRoot = path.resolve(root);
  try {
    await mkdir(absoluteRoot, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new ScratchError(
      `cannot create scratch root ${absoluteRoot}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const stamp = (options.now ?? new Date())
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const shortId = runId.replace(/[^A-Za-z0-9]/g, '').slice(0, 8) || 'run';
  const safeDrill = drill.replace(/[^A-Za-z0-9_.-]/g, '_');
  const dir = path.join(absoluteRoot, `${safeDrill}-${stamp}-${shortId}`);
  try {
    await mkdir(dir, { mode: 0o700 });
    // mkdir's mode passes through the umask; the folder must be private whatever it is.
    await chmod(dir, 0o700);
  } catch (error) {
    throw new ScratchError(`cannot create scratch folder ${dir}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return dir;
}

/** `<drill>-<YYYYMMDDTHHMMSSZ>-<id8>`: the names createScratchDir gives. */
const SCRATCH_NAME =
  /^([A-Za-z0-9_.-]+)-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-([A-Za-z0-9]{1,8})$/;

/** What a scratch folder's name says: whose, made when, for which run (first characters of its id). */
export interface ScratchDirName {
  drill: string;
  createdAt: Date;
  shortId: string;
}

/** Reads a scratch folder's base name; null for a name createScratchDir would not give. */
export function parseScratchDirName(name: string): ScratchDirName | null {
  const match = SCRATCH_NAME.exec(name);
  if (!match) return null;
  const [, drill, year, month, day, hour, minute, second, shortId] = match as unknown as string[];
  const createdAt = new Date(`${year}-${month}-${day}T${hour}:${minute}:${second}Z`);
  if (Number.isNaN(createdAt.getTime())) return null;
  return { drill: drill as string, createdAt, shortId: shortId as string };
}

/** Whether `dir` is named as the scratch folder of run `runId` (so it is safe to remove on that run's behalf). */
export function isScratchDirOf(dir: string, runId: string): boolean {
  const parsed = parseScratchDirName(path.basename(dir));
  return (
    parsed !== null && parsed.shortId === (runId.replace(/[^A-Za-z0-9]/g, '').slice(0, 8) || 'run')
  );
}

/**
 * Removes a scratch folder and everything in it. Restored sets may hold read-only
 * folders (a non-root process cannot delete inside them), so on a permission error
 * every folder is made writable and the removal tried again. Symlinks are removed,
 * never followed. A folder that is already gone is fine.
 */
export async function removeScratchDir(dir: string): Promise<void> {
  const absolute = path.resolve(dir);
  if (absolute === path.parse(absolute).root)
    throw new ScratchError(`refusing to remove ${absolute} as a scratch folder`);
  try {
    await rm(absolute, { recursive: true, force: true });
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'ENOTEMPTY') {
      throw new ScratchError(
        `cannot remove scratch folder ${absolute}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  await makeFoldersWritable(absolute);
  try {
    await rm(absolute, { recursive: true, force: true });
  } catch (error) {
    throw new ScratchError(
      `cannot remove scratch folder ${absolute}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** Gives the owner rwx on `dir` and every folder below it (not following symlinks). */
async function makeFoldersWritable(dir: string): Promise<void> {
  const stack: (string | Buffer)[] = [dir];
  while (stack.length > 0) {
    const current = stack.pop() as string | Buffer;
    let info;
    try {
      info = await lstat(current);
    } catch {
      continue;
    }
    if (!info.isDirectory()) continue;
    await chmod(current, (info.mode & 0o7777) | 0o700).catch(() => undefined);
    let names: Buffer[];
    try {
      // As bytes: a name that is not UTF-8 must still be reached.
      names = await readdir(current, { encoding: 'buffer' });
    } catch {
      continue;
    }
    for (const name of names)
      stack.push(Buffer.concat([Buffer.from(current), Buffer.from('/'), name]));
  }
}

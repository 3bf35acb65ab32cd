import { chmod, mkdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';

/** `statfs` type of tmpfs (linux/magic.h TMPFS_MAGIC). */
const TMPFS_MAGIC = 0x01021994;

/** The least free memory-backed space worth moving the run's temporary files to. */
export const MIN_FREE_BYTES = 4 * 1024 ** 3;

/**
 * The folder for the run's temporary files when the caller did not choose one: a shared,
 * sticky folder on /dev/shm when that is tmpfs with at least MIN_FREE_BYTES free; null (keep
 * the OS default) otherwise, or when TMPDIR is set. The suite makes and deletes tens of
 * thousands of files; on this machine's ext4 root, mounted with `discard`, that cost a
 * minute of system time a run (a full run 508 s there, 438–448 s on tmpfs).
 */
export async function testTmpdir(
  env: NodeJS.ProcessEnv = process.env,
  shm = '/dev/shm',
): Promise<string | null> {
  if (env.TMPDIR) return null;
  const fs = await statfs(shm).catch(() => null);
  if (fs === null || fs.type !== TMPFS_MAGIC || fs.bavail * fs.bsize < MIN_FREE_BYTES) return null;
  const dir = join(shm, 'restore-drill-tests');
  try {
    await mkdir(dir, { recursive: true });
    // Like /tmp: tests run children as other users (the PostgreSQL server, a store's owner).
    if (((await stat(dir)).mode & 0o7777) !== 0o1777) await chmod(dir, 0o1777);
    return dir;
  } catch {
    return null; // another user's folder: stay on the OS default
  }
}

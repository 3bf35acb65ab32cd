import { chown } from 'node:fs/promises';

/** The unprivileged identity tests switch to when they run as root (`nobody`). */
export const NOBODY = 65534;

/** True when permission tests must drop root to mean anything (root reads everything). */
export const runningAsRoot = process.getuid?.() === 0;

/**
 * Runs `fn` with the effective uid/gid of `nobody` when the tests run as root, so
 * permission bits bite; as any other user, runs it as is. Needs the forks pool
 * (seteuid is per process).
 */
export async function asUnprivileged<T>(fn: () => Promise<T>): Promise<T> {
  if (!runningAsRoot) return fn();
  const groups = process.getgroups?.() ?? [];
  process.setgroups?.([NOBODY]);
  process.setegid?.(NOBODY);
  process.seteuid?.(NOBODY);
  try {
    return await fn();
  } finally {
    process.seteuid?.(0);
    process.setegid?.(0);
    process.setgroups?.(groups);
  }
}

/** Hands paths to `nobody` when running as root, so `asUnprivileged` code can use them. */
export async function giveToUnprivileged(...paths: string[]): Promise<void> {
  if (!runningAsRoot) return;
  for (const target of paths) await chown(target, NOBODY, NOBODY);
}

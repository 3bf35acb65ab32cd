import os from 'node:os';

/** Whether a file-system error is a refusal of access (EACCES, EPERM), not a fault of the file. */
export function isPermissionDenied(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'EACCES' || code === 'EPERM';
}

/** Who the drill runs as, for a permission error: `uid 1000 (backup)`. */
export function drillUser(): string {
  const uid = process.getuid?.();
  if (uid === undefined) return 'its user';
  let name: string | undefined;
  try {
    name = os.userInfo().username;
  } catch {
    // A uid without a passwd entry (containers): the number says enough.
  }
  return name ? `uid ${uid} (${name})` : `uid ${uid}`;
}

import { readFileSync } from 'node:fs';

/**
 * What tells a process apart from a later one with the same pid: its start time in clock ticks
 * since boot (field 22 of /proc/PID/stat) and the boot it ran in (/proc/sys/kernel/random/boot_id).
 * Both null where there is no Linux /proc.
 */
export interface ProcessIdentity {
  processStart: number | null;
  bootId: string | null;
}

/** The start ticks and state of a live pid from /proc; null when it has no entry (gone). */
function readStat(pid: number): { state: string; startTicks: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces or ')': fields resume after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so field 22 (starttime) is fields[19].
  const startTicks = Number(fields[19]);
  return { state: fields[0] ?? '', startTicks: Number.isSafeInteger(startTicks) ? startTicks : -1 };
}

function readBootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim() || null;
  } catch {
    return null;
  }
}

let own: ProcessIdentity | undefined;

/** This process's identity, recorded with each run it starts. */
export function ownProcessIdentity(): ProcessIdentity {
  own ??= {
    processStart: readStat(process.pid)?.startTicks ?? null,
    bootId: readBootId(),
  };
  return { ...own };
}

/** The identity of another process on this host, null when it is gone; for tests and diagnostics. */
export function processIdentityOf(pid: number): ProcessIdentity | null {
  const stat = readStat(pid);
  return stat ? { processStart: stat.startTicks, bootId: readBootId() } : null;
}

/**
 * Whether the process that ran as `pid` on this host still runs. With /proc: it has an entry, is
 * not a zombie (killed but not reaped, as under a PID 1 that never reaps), and, when recorded,
 * started at the recorded tick of the same boot (else the pid was reused). Without /proc, signal 0
 * (EPERM: it exists under another user).
 */
export function isProcessAlive(pid: number, recorded: Partial<ProcessIdentity> = {}): boolean {
  if (ownProcessIdentity().processStart === null) return signalZero(pid);
  const stat = readStat(pid);
  if (stat === null || stat.state === 'Z' || stat.state === 'X') return false;
  const bootId = recorded.bootId ?? null;
  if (bootId !== null && bootId !== ownProcessIdentity().bootId) return false;
  const start = recorded.processStart ?? null;
  return start === null || start === stat.startTicks;
}

function signalZero(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

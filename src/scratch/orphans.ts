import { readdir, readlink } from 'node:fs/promises';
import path from 'node:path';

/**
 * Kills the processes still working inside `dir` (their current folder in it), other than
 * this one: what a run killed outright (kill -9, a crash) leaves behind, such as a `command`
 * source's restore, which would otherwise go on writing into a folder already given up.
 * Reads Linux's /proc; elsewhere finds nothing. Returns the pids signalled.
 */
export async function killProcessesIn(dir: string): Promise<number[]> {
  const root = path.resolve(dir);
  const pids = await readdir('/proc').catch(() => [] as string[]);
  const killed: number[] = [];
  for (const name of pids) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const cwd = await readlink(`/proc/${name}/cwd`).catch(() => null);
    if (cwd === null) continue;
    // A folder removed under a process reads as "PATH (deleted)".
    const where = cwd.endsWith(' (deleted)') ? cwd.slice(0, -' (deleted)'.length) : cwd;
    if (where !== root && !where.startsWith(`${root}/`)) continue;
    try {
      process.kill(Number(name), 'SIGKILL');
      killed.push(Number(name));
    } catch {
      // Gone already, or not ours to signal.
    }
  }
  return killed;
}

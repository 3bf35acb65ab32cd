import { readdirSync, readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCommand } from '../src/exec/run-command.js';

/** One timed process: wall time, CPU time of the whole tree, and its peak resident memory. */
export interface Sample {
  seconds: number;
  cpuSeconds: number;
  peakMb: number;
}

/** Servers the bench runs beside the commands (s3rver): their trees belong to no command. */
const servers = new Set<number>();

/** Leaves the process `pid` and its descendants out of every later sample. */
export function excludeFromSamples(pid: number): void {
  servers.add(pid);
}

/** Ids of every descendant of `pid` but the servers', from the kernel's per-thread `children` lists. */
function descendants(pid: number): number[] {
  const found: number[] = [];
  const pending = [pid];
  while (pending.length > 0) {
    const parent = pending.pop()!;
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${parent}/task`);
    } catch {
      continue; // exited meanwhile
    }
    for (const task of tasks) {
      let children = '';
      try {
        children = readFileSync(`/proc/${parent}/task/${task}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const child of children.split(' ')) {
        if (child === '' || servers.has(Number(child))) continue;
        found.push(Number(child));
        pending.push(Number(child));
      }
    }
  }
  return found;
}

/** Sum of VmRSS (kB) of the given processes; those that exited meanwhile count 0. */
function residentKb(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      total += Number(match?.[1] ?? 0);
    } catch {
      // exited
    }
  }
  return total;
}

/** How often the process tree's memory is sampled while a command runs. */
const RSS_POLL_MS = 20;

/**
 * Runs one command under GNU time and samples the memory of every process below this one
 * but the servers meanwhile (the bench starts one command at a time, so that is the
 * command's tree). Peak RSS is the larger of the tree's summed samples and GNU time's own
 * peak of its child, so a process too short for a sample still counts. Output is streamed
 * and dropped: a 20,000-line output never fills a buffer. A command that does not exit 0
 * stops the bench: timing a failure proves nothing.
 */
export async function measure(
  file: string,
  argv: readonly string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<Sample> {
  const timeFile = path.join(os.tmpdir(), `restore-drill-bench-time-${process.pid}`);
  let peakKb = 0;
  const poll = setInterval(() => {
    peakKb = Math.max(peakKb, residentKb(descendants(process.pid)));
  }, RSS_POLL_MS);
  let result;
  try {
    result = await runCommand('/usr/bin/time', ['-f', '%M %U %S', '-o', timeFile, file, ...argv], {
      cwd: options.cwd,
      env: options.env,
      onStdoutLine: () => {},
      onStderrLine: () => {},
    });
  } finally {
    clearInterval(poll);
  }
  const timeLine = (await readFile(timeFile, 'utf8')).trim().split('\n').at(-1) ?? '';
  await rm(timeFile, { force: true });
  if (result.exitCode !== 0) {
    throw new Error(
      `bench command failed: ${file} ${argv.join(' ')} exited ${result.exitCode}: ${result.stderrTail || timeLine}`,
    );
  }
  const [maxRssKb, userSeconds, systemSeconds] = timeLine.split(' ').map(Number);
  return {
    seconds: result.durationMs / 1000,
    cpuSeconds: (userSeconds ?? 0) + (systemSeconds ?? 0),
    peakMb: Math.max(peakKb, maxRssKb ?? 0) / 1024,
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

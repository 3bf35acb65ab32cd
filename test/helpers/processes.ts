import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

const started: ChildProcess[] = [];

/** Kills what startSleeper and makeZombie started (per-file-cleanup.ts calls it after each test file). */
export function killStartedProcesses(): void {
  for (const child of started.splice(0)) child.kill('SIGKILL');
}

/** A live process that sleeps until the test file ends. */
export function startSleeper(): ChildProcess & { pid: number } {
  const child = spawn('sleep', ['600'], { stdio: 'ignore' });
  started.push(child);
  if (child.pid === undefined) throw new Error('sleep did not start');
  return child as ChildProcess & { pid: number };
}

/** The state letter of /proc/PID/stat (R, S, Z…), or null when the pid has no entry. */
export async function procState(pid: number): Promise<string | null> {
  const text = await readFile(`/proc/${pid}/stat`, 'latin1').catch(() => null);
  return text === null ? null : (text.slice(text.lastIndexOf(')') + 2).split(' ')[0] ?? null);
}

/**
 * A real zombie: perl forks a child that exits at once and then sleeps without ever calling
 * wait, as a container's PID 1 that does not reap leaves a SIGKILLed daemon. (A shell is no good
 * here: dash reaps a finished background job before `exec` when the job exits first, which it
 * does under load.) Resolves once /proc shows it in state Z; the parent lives until the test
 * file ends.
 */
export async function makeZombie(): Promise<number> {
  const parent = spawn(
    'perl',
    [
      '-e',
      'my $pid = fork(); die "fork: $!" unless defined $pid; exit 0 if $pid == 0; $| = 1; print "$pid\\n"; sleep 600',
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  started.push(parent);
  const pid = await new Promise<number>((resolve, reject) => {
    let printed = '';
    parent.stdout?.on('data', (chunk: Buffer) => {
      printed += chunk.toString();
      if (printed.endsWith('\n')) resolve(Number(printed.trim()));
    });
    parent.once('error', reject);
    parent.once('exit', (code) => reject(new Error(`perl exited (${code}) before forking`)));
  });
  // The child exits at once; wait for the kernel to show it (bounded, not a timing assumption).
  for (let tries = 0; tries < 500; tries++) {
    if ((await procState(pid)) === 'Z') return pid;
    await sleep(10);
  }
  throw new Error(`pid ${pid} never became a zombie (state ${await procState(pid)})`);
}

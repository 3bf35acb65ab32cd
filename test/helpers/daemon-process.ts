import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const projectRoot = path.resolve(import.meta.dirname, '../..');
const entry = path.join(projectRoot, 'test/cli/fixtures/daemon-entry.ts');

/** One JSON log line of the daemon (pino). */
export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/**
 * A real `restore-drill` process (test/cli/fixtures/daemon-entry.ts through
 * run-ts.mjs), its JSON logs collected as they come. Spawned directly, not
 * through runCommand: the tests signal it and read its logs while it runs.
 */
export class CliProcess {
  readonly child: ChildProcess;
  readonly logs: LogLine[] = [];
  stderrText = '';
  stdoutText = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #partial = '';

  constructor(args: readonly string[], options: { env?: Record<string, string> } = {}) {
    this.child = spawn(
      process.execPath,
      [path.join(projectRoot, 'test/helpers/run-ts.mjs'), entry, ...args],
      {
        cwd: projectRoot,
        env: {
          ...process.env,
          RESTORE_DRILL_LOG_FORMAT: 'json',
          RESTORE_DRILL_LOG_LEVEL: 'debug',
          ...options.env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      this.stdoutText += text;
    });
    this.child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      this.stderrText += text;
      const lines = (this.#partial + text).split('\n');
      this.#partial = lines.pop() ?? '';
      for (const line of lines) {
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          // Not a log line (a one-line CLI error, say): kept in stderrText.
        }
      }
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /** Waits for a log line matching `match`, seen from index `from` on; fails with the logs so far after `timeoutMs`. */
  async waitForLog(
    match: (line: LogLine) => boolean,
    timeoutMs = 60_000,
    from = 0,
  ): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logs.slice(from).find(match);
      if (found) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(
          `process exited (${this.child.exitCode ?? this.child.signalCode}) before the expected log line; stderr:\n${this.stderrText.slice(-4000)}`,
        );
      }
      if (Date.now() > deadline)
        throw new Error(
          `no matching log line within ${timeoutMs} ms; stderr:\n${this.stderrText.slice(-4000)}`,
        );
      await sleep(50);
    }
  }

  /** The daemon's listener URL, from its start log line. */
  async listenUrl(timeoutMs = 60_000): Promise<string> {
    const line = await this.waitForLog((l) => l.msg === 'daemon started', timeoutMs);
    if (typeof line.listen !== 'string') throw new Error('the daemon started without a listener');
    return line.listen;
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Waits for the exit; SIGKILLs the process after `timeoutMs` and fails. */
  async waitForExit(
    timeoutMs = 60_000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const timer = sleep(timeoutMs).then(() => 'timeout' as const);
    const result = await Promise.race([this.exited, timer]);
    if (result === 'timeout') {
      this.child.kill('SIGKILL');
      throw new Error(
        `process did not exit within ${timeoutMs} ms; stderr:\n${this.stderrText.slice(-4000)}`,
      );
    }
    return result;
  }

  /** For afterEach: gone whatever state it is in. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

/** Starts `restore-drill daemon --config FILE`. */
export function startDaemon(
  configFile: string,
  options: { env?: Record<string, string> } = {},
): CliProcess {
  return new CliProcess(['daemon', '--config', configFile], options);
}

/** Whether a process with this pid exists (signal 0). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

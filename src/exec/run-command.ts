import type { Options as ExecaOptions } from 'execa';
import type { ExecRecord } from '../model/exec-record.js';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import { redactor } from '../model/redact.js';

/** How much of a tool's output is kept as evidence. */
const TAIL_BYTES = 4_096;
/** Longest line `onStdoutLine`/`onStderrLine` accept. */
const MAX_LINE_CHARS = 16 * 1024 * 1024;

export interface RunCommandOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Kill the tree after this long; the record says `timedOut`. */
  timeoutMs?: number;
  signal?: AbortSignal | undefined;
  /** What a timeout or abort sends first (SIGKILL follows 2 s later); default SIGTERM. */
  stopSignal?: NodeJS.Signals;
  /** Keep the full stdout (for JSON output of tools); otherwise only the tail is kept. */
  keepStdout?: boolean;
  input?: string;
  /** A stream fed to the tool's stdin instead (a decompressed dump for `psql -f -`). */
  inputStream?: Readable;
  /**
   * Called with each stdout line as it arrives; stdout is then not held in memory (only
   * its tail is kept), for output too large to buffer (a listing of millions of files).
   * If it throws, the tool is stopped and runCommand rethrows that error.
   */
  onStdoutLine?: (line: string) => void;
  /** The same for stderr. */
  onStderrLine?: (line: string) => void;
  uid?: number;
  gid?: number;
}

export interface CommandResult extends ExecRecord {
  /** Full stdout when `keepStdout` was set, else the tail. */
  stdout: string;
}

function tail(text: string): string {
  return redactor.redact(text.length > TAIL_BYTES ? `…${text.slice(-TAIL_BYTES)}` : text);
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

let execaLoading: Promise<typeof import('execa')> | undefined;
/** execa and its dependencies take a while to import: loaded by the first command run, not at start-up. */
const loadExeca = (): Promise<typeof import('execa')> => (execaLoading ??= import('execa'));

/**
 * Starts `file` the one way every tool is started: arguments as an array, never
 * rejecting, in its own process group (so a timeout or abort kills the tool's children
 * too), guarded by `guardProcess`. `io` says only what the runners differ in: stdin,
 * output buffering, and where and as whom the tool runs.
 */
async function spawnGuarded<const Io extends ExecaOptions>(
  file: string,
  args: readonly string[],
  options: StreamCommandOptions,
  io: Io,
) {
  const { execa } = await loadExeca();
  const started = performance.now();
  const subprocess = execa(file, args, {
    ...io,
    reject: false,
    env: options.env,
    extendEnv: true,
    detached: true,
    cleanup: true,
  });
  return { subprocess, guard: guardProcess(subprocess.pid, options), started };
}

/** The evidence of a finished run, from execa's result and the guard's verdict. */
function execRecord(
  file: string,
  args: readonly string[],
  started: number,
  result: { failed: boolean; exitCode?: number; signal?: string; shortMessage?: string },
  ended: { timedOut: boolean; canceled: boolean },
  output: { stdout: string; stderr: string },
): ExecRecord {
  const { timedOut, canceled } = ended;
  const startFailure =
    result.failed && result.exitCode === undefined && !result.signal && !timedOut && !canceled;
  return {
    command: redactor.redact([file, ...args].map(quote).join(' ')),
    exitCode: result.exitCode ?? null,
    signal: result.signal ?? null,
    durationMs: Math.round(performance.now() - started),
    timedOut,
    canceled,
    stdoutTail: tail(output.stdout),
    stderrTail: startFailure
      ? tail(`${output.stderr}\n${result.shortMessage ?? ''}`.trim())
      : tail(output.stderr),
  };
}

/**
 * The one wrapper around execa: arguments as an array (never a shell string), a
 * timeout and an abort signal that kill the whole process group, and a record fit
 * for evidence. It never throws for a non-zero exit (execa's `reject: false`); a
 * binary that cannot be started comes back with exitCode null and the reason in stderrTail.
 */
export async function runCommand(
  file: string,
  args: readonly string[],
  options: RunCommandOptions = {},
): Promise<CommandResult> {
  const { subprocess, guard, started } = await spawnGuarded(file, args, options, {
    cwd: options.cwd,
    stripFinalNewline: true,
    input: options.inputStream ?? options.input,
    uid: options.uid,
    gid: options.gid,
    maxBuffer: options.keepStdout ? 512 * 1024 * 1024 : 64 * 1024 * 1024,
    buffer: { stdout: !options.onStdoutLine, stderr: !options.onStderrLine },
  });
  const stop = guard.stop;
  let lineError: { error: unknown } | undefined;
  const onLineError = (error: unknown): void => {
    lineError ??= { error };
    stop();
  };
  const streamed: Promise<string | undefined>[] = [
    options.onStdoutLine
      ? followLines(subprocess.stdout, options.onStdoutLine, onLineError)
      : Promise.resolve(undefined),
    options.onStderrLine
      ? followLines(subprocess.stderr, options.onStderrLine, onLineError)
      : Promise.resolve(undefined),
  ];
  const result = await subprocess;
  const [stdoutTail, stderrTail] = await Promise.all(streamed);
  const ended = guard.end();
  if (lineError) throw lineError.error;
  const stdout = stdoutTail ?? (typeof result.stdout === 'string' ? result.stdout : '');
  const stderr = stderrTail ?? (typeof result.stderr === 'string' ? result.stderr : '');
  return {
    ...execRecord(file, args, started, result, ended, { stdout, stderr }),
    stdout: options.keepStdout ? redactor.redact(stdout) : tail(stdout),
  };
}

/** Feeds each line of a stream to `onLine` as it arrives; resolves with the stream's tail once it ends. */
function followLines(
  stream: Readable | null,
  onLine: (line: string) => void,
  onError: (error: unknown) => void,
): Promise<string> {
  if (!stream) return Promise.resolve('');
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let last = '';
  let failed = false;
  const emit = (line: string): void => {
    if (failed) return;
    try {
      onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
    } catch (error) {
      failed = true;
      onError(error);
    }
  };
  const take = (text: string): void => {
    last = (last + text).slice(-TAIL_BYTES - 1);
    if (failed) return;
    // Only the new text is searched: a long line must not be rescanned for every chunk.
    let from = 0;
    let newline = text.indexOf('\n');
    while (newline !== -1) {
      emit(pending + text.slice(from, newline));
      pending = '';
      from = newline + 1;
      newline = text.indexOf('\n', from);
    }
    pending += text.slice(from);
    // A tool that never ends a line must not fill memory either.
    if (pending.length > MAX_LINE_CHARS) {
      pending = '';
      failed = true;
      onError(new Error(`output line longer than ${MAX_LINE_CHARS} characters`));
    }
  };
  stream.on('data', (chunk: Buffer | string) =>
    take(typeof chunk === 'string' ? chunk : decoder.write(chunk)),
  );
  return new Promise((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      take(decoder.end());
      if (pending) emit(pending);
      pending = '';
      resolve(last.endsWith('\n') ? last.slice(0, -1) : last);
    };
    stream.once('end', finish);
    stream.once('close', finish);
    stream.once('error', finish);
  });
}

/**
 * Kills the process group of `pid` on timeout or abort (`stopSignal`, SIGTERM by default, then
 * SIGKILL 2 s later); `end` once the tool has exited clears both and kills what is left of the group.
 */
function guardProcess(
  pid: number | undefined,
  options: {
    timeoutMs?: number | undefined;
    signal?: AbortSignal | undefined;
    stopSignal?: NodeJS.Signals | undefined;
  },
): { stop(): void; end(): { timedOut: boolean; canceled: boolean } } {
  let timedOut = false;
  let canceled = false;
  let stopped = false;
  const stop = (): void => {
    if (stopped || pid === undefined) return;
    stopped = true;
    killGroup(pid, options.stopSignal ?? 'SIGTERM');
    setTimeout(() => killGroup(pid, 'SIGKILL'), 2_000).unref();
  };
  const timer =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          stop();
        }, options.timeoutMs);
  const onAbort = (): void => {
    canceled = true;
    stop();
  };
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  return {
    stop,
    end() {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      // Leave nothing of the group behind, even children that outlived the tool.
      if (pid !== undefined) killGroup(pid, 'SIGKILL');
      return { timedOut, canceled };
    },
  };
}

/** Kills every process left in the group (children the tool spawned and did not reap). */
function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

/** Signals a program dies of by its own fault (a bad read, an assertion), never sent by restore-drill. */
export const CRASH_SIGNALS: ReadonlySet<string> = new Set([
  'SIGSEGV',
  'SIGBUS',
  'SIGILL',
  'SIGFPE',
  'SIGABRT',
]);

/** One line saying how a command ended, for a check's detail or an error cause. */
export function describeExit(record: ExecRecord): string {
  if (record.timedOut) return `timed out after ${record.durationMs} ms`;
  if (record.canceled) return 'canceled';
  if (record.signal) return `killed by ${record.signal}`;
  if (record.exitCode === null) return `could not start: ${lastLine(record.stderrTail)}`;
  const last = lastLine(record.stderrTail) || lastLine(record.stdoutTail);
  return `exit code ${record.exitCode}${last ? `: ${last}` : ''}`;
}

export function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return (lines[lines.length - 1] ?? '').trim();
}

/** Options of `streamCommand`, and what every tool started here takes. */
export interface StreamCommandOptions {
  env?: Record<string, string | undefined> | undefined;
  /** Kill the tree after this long; the record says `timedOut`. */
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  /** What a timeout or abort sends first (SIGKILL follows 2 s later); default SIGTERM. */
  stopSignal?: NodeJS.Signals | undefined;
}

/** A tool started by `streamCommand`, its stdout read as it comes. */
export interface CommandStream {
  /** False when the binary could not be started (then `finished` says why in stderrTail). */
  readonly started: boolean;
  /** The tool's stdout (Buffers), honouring back-pressure; empty when it did not start. */
  readonly stdout: Readable;
  /** The run's record once the tool has exited and its group is gone; never rejects. */
  readonly finished: Promise<ExecRecord>;
  /** Kills the tool's process group (SIGTERM, then SIGKILL), as a timeout or abort does. */
  stop(): void;
}

/**
 * `runCommand` for output too large to hold: stdout is handed over as a stream instead
 * of kept (only stderr's tail is). The same guarantees: arguments as an array, a timeout
 * and an abort signal that kill the whole group, nothing of the group left behind.
 */
export async function streamCommand(
  file: string,
  args: readonly string[],
  options: StreamCommandOptions = {},
): Promise<CommandStream> {
  const { subprocess, guard, started } = await spawnGuarded(file, args, options, {
    stdin: 'ignore',
    encoding: 'buffer',
    buffer: { stdout: false, stderr: true },
    maxBuffer: { stderr: 1024 * 1024 },
  });
  const finished = subprocess.then((result): ExecRecord => {
    const stderr =
      result.stderr instanceof Uint8Array ? Buffer.from(result.stderr).toString('utf8') : '';
    return execRecord(file, args, started, result, guard.end(), { stdout: '', stderr });
  });
  // Started or not, whichever is told first.
  const spawned = await Promise.race([
    new Promise<boolean>((resolve) => subprocess.once('spawn', () => resolve(true))),
    finished.then((record) => record.exitCode !== null || record.signal !== null),
  ]);
  return { started: spawned, stdout: subprocess.stdout, finished, stop: guard.stop };
}

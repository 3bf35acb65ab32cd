import { createLogUpdate } from 'log-update';
import { formatBytes } from '../model/primitives.js';
import type { DrillProgress, ProgressListener } from '../drill/progress.js';
import type { Logger } from '../log/logger.js';

/** Phases as people read them on the status line. */
const PHASE_WORDS: Readonly<Record<DrillProgress['phase'], string>> = {
  prepare: 'preparing',
  select: 'listing',
  sample: 'sampling',
  restore: 'restoring',
  verify: 'verifying',
  cleanup: 'cleaning up',
  record: 'recording',
  finished: 'finished',
};

/** How often the status lines are redrawn. */
const REDRAW_MS = 1_000;
/** How often, at most, a running restore's progress goes to the structured log. */
const LOG_EVERY_MS = 5_000;

/** Where a command's drills report their progress; `stop` before the command's last output. */
export interface ProgressReporter {
  listener: ProgressListener;
  stop(): void;
}

/**
 * Progress for people at a terminal (status lines redrawn in place on stderr, one per
 * running drill) or, anywhere else and with --json, a `progress` log event at most every
 * few seconds per run, for log shippers.
 */
export function createProgressReporter(options: {
  json?: boolean | undefined;
  logFormat?: string | undefined;
  log: Logger;
}): ProgressReporter {
  const format = options.logFormat ?? process.env.RESTORE_DRILL_LOG_FORMAT ?? 'auto';
  if (!options.json && format !== 'json' && process.stderr.isTTY === true)
    return startStatusLines(process.stderr);
  return logProgress(options.log);
}

/** One line of a drill's progress: phase, bytes done of the total, rate, elapsed and time left. */
export function formatProgressLine(progress: DrillProgress, nowMs = Date.now()): string {
  const parts = [progress.drill, PHASE_WORDS[progress.phase]];
  if (progress.phase === 'restore' && progress.bytes !== undefined) {
    const total = progress.totalBytes ?? null;
    const done = formatBytes(progress.bytes);
    parts.push(
      total !== null && total > 0
        ? `${done} of ${formatBytes(total)} (${Math.min(100, Math.floor((progress.bytes / total) * 100))}%)`
        : done,
    );
    if (progress.entries) parts.push(`${progress.entries} entries`);
    const restoreMs = nowMs - (progress.restoreStartedAtMs ?? nowMs);
    const rate = restoreMs >= 1_000 ? progress.bytes / (restoreMs / 1_000) : 0;
    if (rate > 0) parts.push(`${formatBytes(rate)}/s`);
    parts.push(clock(nowMs - progress.startedAtMs));
    if (rate > 0 && total !== null && total > progress.bytes)
      parts.push(`~${clock(((total - progress.bytes) / rate) * 1_000)} left`);
  } else parts.push(clock(nowMs - progress.startedAtMs));
  return parts.join('  ');
}

/** `1:05` or `1:02:05`. */
function clock(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1_000));
  const h = Math.floor(seconds / 3_600);
  const m = Math.floor((seconds % 3_600) / 60);
  const s = String(seconds % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/**
 * Status lines at the bottom of the terminal (log-update redraws them). Anything else the
 * process writes meanwhile (log lines, PASS/FAIL lines) goes above them: the lines are
 * cleared, the text written, and the lines drawn again.
 */
function startStatusLines(stream: NodeJS.WriteStream): ProgressReporter {
  const running = new Map<string, DrillProgress>();
  const stdoutWrite = process.stdout.write;
  const stderrWrite = process.stderr.write;
  // log-update writes through the original write, so its own output is not taken for someone else's.
  // A terminal that reports no size (a serial console, a pty nobody sized) gets 80x24.
  const target = Object.create(stream, {
    write: { value: (text: string) => stderrWrite.call(stream, text) },
    columns: { get: () => stream.columns || 80 },
    rows: { get: () => stream.rows || 24 },
  }) as NodeJS.WriteStream;
  // The cursor stays as it is: hiding it would write to the terminal from under our hooks.
  const status = createLogUpdate(target, { showCursor: true });
  let shown = false;
  let drawing = false;
  const draw = (): void => {
    if (drawing) return;
    const lines = [...running.values()].map((progress) => formatProgressLine(progress));
    if (lines.length === 0) {
      if (shown) status.clear();
      shown = false;
      return;
    }
    drawing = true;
    try {
      status(lines.join('\n'));
    } finally {
      drawing = false;
    }
    shown = true;
  };
  const around = (original: typeof stdoutWrite, owner: NodeJS.WriteStream) =>
    function (this: unknown, ...args: Parameters<typeof stdoutWrite>): boolean {
      if (drawing) return original.apply(owner, args);
      if (shown) status.clear();
      const written = original.apply(owner, args);
      if (shown) draw();
      return written;
    } as typeof stdoutWrite;
  process.stdout.write = around(stdoutWrite, process.stdout);
  process.stderr.write = around(stderrWrite, process.stderr);
  const timer = setInterval(draw, REDRAW_MS);
  timer.unref();
  return {
    listener: (progress) => {
      const key = progress.runId;
      if (progress.phase === 'finished') running.delete(key);
      else running.set(key, progress);
      // A new phase shows at once; byte counts wait for the next redraw.
      if (progress.phase !== 'restore' || progress.bytes === 0) draw();
    },
    stop: () => {
      clearInterval(timer);
      running.clear();
      if (shown) status.clear();
      shown = false;
      process.stdout.write = stdoutWrite;
      process.stderr.write = stderrWrite;
      status.done();
    },
  };
}

/** Restore progress as `progress` log events, at most one per run every few seconds. */
function logProgress(log: Logger): ProgressReporter {
  const lastLogged = new Map<string, number>();
  return {
    listener: (progress) => {
      if (progress.phase === 'finished') {
        lastLogged.delete(progress.runId);
        return;
      }
      if (progress.phase !== 'restore' || progress.bytes === undefined) return;
      const now = Date.now();
      const started = progress.restoreStartedAtMs ?? now;
      const last = lastLogged.get(progress.runId) ?? started;
      if (now - last < LOG_EVERY_MS) return;
      lastLogged.set(progress.runId, now);
      const seconds = (now - started) / 1_000;
      log.info(
        {
          drill: progress.drill,
          runId: progress.runId,
          phase: progress.phase,
          bytes: progress.bytes,
          entries: progress.entries,
          totalBytes: progress.totalBytes ?? null,
          totalItems: progress.totalItems ?? null,
          bytesPerSecond: seconds > 0 ? Math.round(progress.bytes / seconds) : null,
          elapsedMs: now - progress.startedAtMs,
        },
        'progress',
      );
    },
    stop: () => lastLogged.clear(),
  };
}

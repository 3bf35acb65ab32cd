import { describe, expect, it } from 'vitest';
import { createProgressReporter, formatProgressLine } from '../../src/cli/progress-display.js';
import type { DrillProgress } from '../../src/drill/progress.js';
import type { Logger } from '../../src/log/logger.js';

const NOW = Date.parse('2026-12-06T12:00:00Z');
const base = { drill: 'nightly', runId: 'r1', startedAtMs: NOW - 65_000 };

describe('progress lines', () => {
  it('say the phase, bytes of the total, rate, elapsed and time left while restoring', () => {
    const progress: DrillProgress = {
      ...base,
      phase: 'restore',
      bytes: 500_000_000,
      entries: 1200,
      totalBytes: 2_000_000_000,
      restoreStartedAtMs: NOW - 10_000,
    };
    expect(formatProgressLine(progress, NOW)).toBe(
      'nightly  restoring  500 MB of 2 GB (25%)  1200 entries  50 MB/s  1:05  ~0:30 left',
    );
  });

  it('leave out what is not known: no total, no rate in the first second', () => {
    expect(
      formatProgressLine(
        {
          ...base,
          phase: 'restore',
          bytes: 0,
          entries: 0,
          totalBytes: null,
          restoreStartedAtMs: NOW,
        },
        NOW,
      ),
    ).toBe('nightly  restoring  0 B  1:05');
    expect(formatProgressLine({ ...base, phase: 'verify' }, NOW)).toBe('nightly  verifying  1:05');
    expect(
      formatProgressLine({ ...base, phase: 'select', startedAtMs: NOW - 3_725_000 }, NOW),
    ).toBe('nightly  listing  1:02:05');
  });
});

describe('progress off a terminal', () => {
  it('goes to the log as a progress event, at most one per run every few seconds', () => {
    const events: Record<string, unknown>[] = [];
    const log = {
      info: (fields: Record<string, unknown>) => events.push(fields),
    } as unknown as Logger;
    const reporter = createProgressReporter({ json: true, log });
    const restoring = (bytes: number, startedAgoMs: number): DrillProgress => ({
      ...base,
      startedAtMs: Date.now() - startedAgoMs - 1_000,
      phase: 'restore',
      bytes,
      entries: 2,
      totalBytes: 1_000,
      restoreStartedAtMs: Date.now() - startedAgoMs,
    });
    reporter.listener({ ...base, phase: 'select' });
    reporter.listener(restoring(10, 1_000));
    expect(events).toEqual([]);
    reporter.listener(restoring(600, 6_000));
    reporter.listener(restoring(700, 6_500));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      drill: 'nightly',
      runId: 'r1',
      phase: 'restore',
      bytes: 600,
      totalBytes: 1_000,
      entries: 2,
    });
    expect(events[0]?.bytesPerSecond).toBe(100);
    reporter.listener({ ...base, phase: 'finished' });
    reporter.stop();
  });
});

import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import {
  runCommand,
  streamCommand,
  type StreamCommandOptions,
} from '../../src/exec/run-command.js';
import type { ExecRecord } from '../../src/model/exec-record.js';
import { procState } from '../helpers/processes.js';

/** A tool run to its end by either runner; `onFirstLine` gets the first line of its stdout. */
type Runner = (
  file: string,
  args: readonly string[],
  options: StreamCommandOptions & { onFirstLine?: (line: string) => void },
) => Promise<ExecRecord>;

const runners: [string, Runner][] = [
  [
    'runCommand',
    (file, args, { onFirstLine, ...options }) => {
      let seen = false;
      return runCommand(file, args, {
        ...options,
        onStdoutLine: (line) => {
          if (!seen) onFirstLine?.(line);
          seen = true;
        },
      });
    },
  ],
  [
    'streamCommand',
    async (file, args, { onFirstLine, ...options }) => {
      const command = await streamCommand(file, args, options);
      let text = '';
      command.stdout.on('data', (chunk: Buffer) => {
        if (text.includes('\n')) return;
        text += chunk.toString('utf8');
        if (text.includes('\n')) onFirstLine?.(text.slice(0, text.indexOf('\n')));
      });
      return command.finished;
    },
  ],
];

/** Dead once /proc has no entry for it or shows it as a zombie (killed, not yet reaped). */
async function gone(pid: number): Promise<boolean> {
  // Bounded poll: SIGKILL is delivered asynchronously.
  for (let tries = 0; tries < 500; tries++) {
    const state = await procState(pid);
    if (state === null || state === 'Z') return true;
    await sleep(10);
  }
  return false;
}

describe.each(runners)('%s: the guarantees both runners share', (_name, run) => {
  test('an abort kills the tool and every child it started, and the record says canceled', async () => {
    const controller = new AbortController();
    let child = 0;
    // The shell starts a long sleep in the background and waits for it: the sleep is in its group.
    const record = await run('sh', ['-c', 'sleep 300 & echo $!; wait'], {
      signal: controller.signal,
      onFirstLine: (line) => {
        child = Number(line);
        controller.abort();
      },
    });
    expect(record).toMatchObject({ canceled: true, timedOut: false, exitCode: null });
    expect(record.signal).toBe('SIGTERM');
    expect(child).toBeGreaterThan(0);
    expect(await gone(child)).toBe(true);
  });

  test('an abort sends stopSignal first, so a tool that cleans up on it (restic on SIGINT) can', async () => {
    const controller = new AbortController();
    // The tool says which signal reached it, then exits as a tool tidying up would.
    const record = await run(
      'sh',
      [
        '-c',
        'trap "echo got INT >&2; exit 130" INT; trap "echo got TERM >&2; exit 143" TERM; echo up; while :; do sleep 0.05; done',
      ],
      { signal: controller.signal, stopSignal: 'SIGINT', onFirstLine: () => controller.abort() },
    );
    expect(record).toMatchObject({ canceled: true, exitCode: 130 });
    expect(record.stderrTail).toBe('got INT');
  });

  test('a timeout kills the tool, and the record says timedOut', async () => {
    const record = await run('sleep', ['300'], { timeoutMs: 200 });
    expect(record).toMatchObject({ timedOut: true, canceled: false, exitCode: null });
    expect(record.command).toBe('sleep 300');
  });

  test('does not leave a tool running when the signal had aborted before it started', async () => {
    const record = await run('sleep', ['300'], { signal: AbortSignal.abort() });
    expect(record.canceled).toBe(true);
    expect(record.exitCode).toBeNull();
  });

  test('a binary that cannot be started comes back with exitCode null and the reason in stderrTail', async () => {
    const record = await run('/nonexistent/tool', ['--flag'], {});
    expect(record).toMatchObject({ exitCode: null, signal: null, timedOut: false });
    expect(record.stderrTail).toMatch(/ENOENT/);
    expect(record.command).toBe('/nonexistent/tool --flag');
  });

  test('passes its env on top of the inherited one and records the exit code and stderr tail', async () => {
    const record = await run('sh', ['-c', 'echo "$RD_RUNNER_TEST $HOME" >&2; exit 3'], {
      env: { RD_RUNNER_TEST: 'set' },
    });
    expect(record.exitCode).toBe(3);
    expect(record.stderrTail).toBe(`set ${process.env.HOME ?? ''}`);
  });
});

describe('streamCommand', () => {
  test('says a binary that cannot be started did not start', async () => {
    const command = await streamCommand('/nonexistent/tool', []);
    expect(command.started).toBe(false);
    expect((await command.finished).stderrTail).toMatch(/ENOENT/);
  });
});

import { describe, expect, test } from 'vitest';
import { runCommand } from '../../src/exec/run-command.js';

describe('runCommand streaming output line by line', () => {
  test('hands over every stdout line, the last one without a newline too, and keeps only the tail', async () => {
    const lines: string[] = [];
    // 60 MB of lines: more than would be worth holding, all counted one by one.
    const result = await runCommand(
      'sh',
      ['-c', 'yes 0123456789abcdef | head -n 3500000; printf "last"'],
      {
        onStdoutLine: (line) => {
          if (lines.length < 2 || line !== '0123456789abcdef') lines.push(line);
          else lines[1] = line;
        },
      },
    );
    expect(result.exitCode).toBe(0);
    expect(lines).toEqual(['0123456789abcdef', '0123456789abcdef', 'last']);
    expect(result.stdout.length).toBeLessThanOrEqual(4_097 + 1);
    expect(result.stdoutTail.endsWith('0123456789abcdef\nlast')).toBe(true);
  });

  test('decodes a multi-byte character split across chunks and streams stderr separately', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const result = await runCommand(
      'node',
      [
        '-e',
        "process.stdout.write(Buffer.from([0xc3])); setTimeout(() => { process.stdout.write(Buffer.from([0xa9, 0x0a])); console.error('oops'); }, 50)",
      ],
      {
        onStdoutLine: (line) => out.push(line),
        onStderrLine: (line) => err.push(line),
      },
    );
    expect(result.exitCode).toBe(0);
    expect(out).toEqual(['é']);
    expect(err).toEqual(['oops']);
    expect(result.stderrTail).toBe('oops');
  });

  test('stops the tool and rethrows when the line callback throws', async () => {
    const started = Date.now();
    const failure = await runCommand('sh', ['-c', 'echo bad; sleep 30'], {
      onStdoutLine: (line) => {
        throw new Error(`cannot parse ${line}`);
      },
    }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect((failure as Error).message).toBe('cannot parse bad');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  test('refuses a line that never ends instead of holding it in memory', async () => {
    const failure = await runCommand('sh', ['-c', 'head -c 20000000 /dev/zero | tr "\\0" x'], {
      onStdoutLine: () => {},
    }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect((failure as Error).message).toMatch(/^output line longer than \d+ characters$/);
  });
});

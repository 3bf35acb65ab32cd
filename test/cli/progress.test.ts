import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/run-command.js';
import { cli, CLI } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';
import { createTestDatabase } from '../helpers/test-database.js';

/** Terminal control sequences: what status lines are drawn with. */
// eslint-disable-next-line no-control-regex
const ESCAPE = /\u001b\[/;

let dir: string;
let config: string;

/**
 * `restore-drill run` under a real pseudo-terminal (util-linux `script`), sized as a
 * terminal is (a pty nobody sized reports 0x0); returns what the terminal received.
 */
async function runOnTerminal(args: string[]): Promise<{ exitCode: number; screen: string }> {
  const line = ['stty rows 40 cols 160;', 'exec', process.execPath, CLI, ...args]
    .map((part) => (part.endsWith(';') || part === 'exec' ? part : `'${part}'`))
    .join(' ');
  const result = await runCommand('script', ['-qfec', line, '/dev/null'], {
    keepStdout: true,
    timeoutMs: 50_000,
    cwd: dir,
    env: { RESTORE_DRILL_LOG_FORMAT: 'auto', TERM: 'xterm' },
  });
  return { exitCode: result.exitCode ?? -1, screen: result.stdout };
}

beforeAll(async () => {
  dir = await tempDir('restore-drill-progress-');
  await mkdir(path.join(dir, 'sets'));
  await writeFile(path.join(dir, 'sets', 'set-1'), 'the set\n');
  config = path.join(dir, 'restore-drill.yaml');
  // A restore that writes 6 x 2 MB over about 3 seconds: long enough for the status line to move.
  await writeFile(
    config,
    [
      'database:',
      `  url: ${await createTestDatabase()}`,
      'drills:',
      '  - name: slow-restore',
      '    source:',
      '      kind: command',
      '      sets: { path: sets/set-* }',
      '      restore:',
      '        - sh',
      '        - -c',
      '        - for i in 1 2 3 4 5 6; do head -c 2000000 /dev/urandom > part-$i; sleep 0.5; done',
      '    checks:',
      '      files: { min: 6 }',
      '',
    ].join('\n'),
  );
});

describe('progress of a running drill (real CLI, real pseudo-terminal)', () => {
  it('shows a status line on a terminal: phase, bytes, rate and elapsed time, redrawn in place, gone at the end', async () => {
    const { exitCode, screen } = await runOnTerminal(['run', '--config', config]);
    expect(exitCode, screen).toBe(0);
    // Drawn from the start of the restore and redrawn every second while it runs.
    const restoring = screen.match(/slow-restore {2}restoring {2}[^\r\n]*/g) ?? [];
    expect(restoring.length, screen).toBeGreaterThanOrEqual(2);
    for (const status of restoring) expect(status).toMatch(/ \d+:\d{2}( |$)/);
    expect(screen).toMatch(/slow-restore {2}restoring {2}[\d.]+ (B|kB|MB)/);
    expect(screen).toContain('slow-restore  listing');
    expect(screen).toContain('slow-restore  verifying');
    // Redrawn in place: each new status erases the previous one.
    expect(screen).toContain('\u001b[2K\u001b[1A');
    // The verdict line comes after the status is cleared, on a line of its own.
    const lines = screen.split('\n').map((line) => (line.split('\u001b[G').at(-1) ?? '').trim());
    expect(lines.some((line) => line.startsWith('PASS    slow-restore '))).toBe(true);
  });

  it('never draws it with --json, even on a terminal', async () => {
    const { exitCode, screen } = await runOnTerminal(['run', '--config', config, '--json']);
    expect(exitCode, screen).toBe(0);
    expect(screen).not.toMatch(/restoring {2}/);
    expect(screen).not.toContain('\u001b[2K');
  });

  it('never draws it when output is not a terminal', async () => {
    const piped = await cli(['run', '--config', config], { cwd: dir });
    expect(piped.exitCode, piped.stderr).toBe(0);
    expect(piped.stdout).toMatch(/^PASS {4}slow-restore /);
    expect(piped.stdout + piped.stderr).not.toMatch(ESCAPE);
    expect(piped.stderr).not.toMatch(/restoring {2}/);
  });
});

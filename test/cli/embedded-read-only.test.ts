import { chmod, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/run-command.js';
import { run } from '../helpers/artefacts.js';
import { NOBODY, runningAsRoot } from '../helpers/as-user.js';
import { CLI } from '../helpers/cli.js';
import { configText, makeDirectorySet } from '../helpers/drill-fixture.js';
import { tempDir } from '../helpers/temp.js';

interface JsonRun {
  runId: string;
  drill: string;
  verdict: string;
  recorded: boolean;
  cause: string | null;
}

/**
 * The CLI as a user the file modes bind: root reads and writes everything, so as root the
 * child drops to `nobody` (setpriv), as anyone else it runs as is. No inherited preloads:
 * the test runner's may not be readable by that user.
 */
async function cliAsOwner(args: readonly string[]) {
  const command = [process.execPath, CLI, ...args];
  const [file, ...rest] = runningAsRoot
    ? ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', ...command]
    : command;
  return runCommand(file!, rest, {
    keepStdout: true,
    timeoutMs: 50_000,
    env: { NODE_OPTIONS: '', RESTORE_DRILL_LOG_FORMAT: 'json' },
  });
}

/** Every mode under `dir` with write permission taken away, or given back. */
async function setWritable(dir: string, writable: boolean): Promise<void> {
  await run('chmod', ['-R', writable ? 'u+w' : 'a-w', dir], dir);
}

describe('the embedded evidence store with its folder made read-only', () => {
  let base: string;
  let config: string;
  let embedded: string;

  beforeAll(async () => {
    base = await tempDir('restore-drill-embedded-ro-');
    await makeDirectorySet(path.join(base, 'backups'), 'nightly');
    config = path.join(base, 'restore-drill.yaml');
    const text = configText({
      backupsDir: path.join(base, 'backups'),
      scratchRoot: path.join(base, 'scratch'),
      drills: [{ name: 'nightly' }],
    });
    // A short wait for the store, so the refused run ends in seconds.
    await writeFile(config, `database:\n  waitFor: 2s\n${text}`);
    embedded = path.join(base, '.restore-drill');
    if (runningAsRoot) await run('chown', ['-R', `${NOBODY}:${NOBODY}`, base], base);
    await chmod(base, 0o755);
  });

  it('refuses to run a drill it could not record, leaves nothing behind, and records again once writable', async () => {
    const first = await cliAsOwner(['run', '--config', config, '--json']);
    expect(first.exitCode, first.stderrTail).toBe(0);
    const [passed] = (JSON.parse(first.stdout) as { runs: JsonRun[] }).runs;
    expect(passed).toMatchObject({ drill: 'nightly', verdict: 'passed', recorded: true });

    await setWritable(embedded, false);
    let refused: JsonRun | undefined;
    try {
      const second = await cliAsOwner(['run', '--config', config, '--json']);
      expect(second.exitCode, second.stderrTail).toBe(1);
      [refused] = (JSON.parse(second.stdout) as { runs: JsonRun[] }).runs;
    } finally {
      await setWritable(embedded, true);
    }
    expect(refused).toMatchObject({ drill: 'nightly', verdict: 'error', recorded: false });
    expect(refused?.cause).toMatch(/evidence/i);
    expect(refused?.cause).not.toContain('\n');
    // The drill never ran: no restore left in scratch, nothing waiting in a spool.
    expect(await readdir(path.join(base, 'scratch')).catch(() => [])).toEqual([]);
    expect(
      await readdir(path.join(embedded, 'spool')).then(
        (names) => names.filter((name) => name.endsWith('.json')),
        () => [],
      ),
    ).toEqual([]);

    const third = await cliAsOwner(['run', '--config', config, '--json']);
    expect(third.exitCode, third.stderrTail).toBe(0);
    const history = await cliAsOwner(['history', '--config', config, '--json']);
    expect(history.exitCode, history.stderrTail).toBe(0);
    const runs = (JSON.parse(history.stdout) as { runs: JsonRun[] }).runs;
    expect(runs.map((entry) => entry.verdict)).toEqual(['passed', 'passed']);
    const verify = await cliAsOwner(['evidence', 'verify', '--config', config]);
    expect(verify.exitCode, verify.stdout + verify.stderrTail).toBe(0);
  }, 60_000);
});

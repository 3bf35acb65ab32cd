import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { CliProcess } from '../helpers/daemon-process.js';
import { tempDir } from '../helpers/temp.js';
import { createTestDatabase } from '../helpers/test-database.js';

const HANG = fileURLToPath(new URL('../fixtures/bin/hang-with-children', import.meta.url));

/** SIGINT and SIGTERM stop `restore-drill run` mid-restore: recorded aborted, scratch removed, no process left. */
let root: string;
let config: string;
let running: CliProcess | undefined;

beforeAll(async () => {
  root = await tempDir('restore-drill-run-signals-');
  await mkdir(path.join(root, 'sets', 'nightly'), { recursive: true });
  await writeFile(path.join(root, 'sets', 'nightly', 'data.txt'), 'data\n');
  config = path.join(root, 'restore-drill.yaml');
  // The restore command hangs with two children of its own, writing their pids to scratch/../<signal>.pids.
  await writeFile(
    config,
    `database:
  url: ${await createTestDatabase()}
scratch:
  root: scratch
drills:
  - name: hangs
    source:
      kind: command
      sets: { path: sets/* }
      restore: [${HANG}, '{scratch}.pids']
`,
  );
});

afterEach(async () => {
  await running?.kill();
});

/** Gone, or a zombie not reaped yet (dead all the same): read from /proc. */
function processGone(pid: number): boolean {
  const file = `/proc/${pid}/stat`;
  if (!existsSync(file)) return true;
  try {
    const stat = readFileSync(file, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** Polls `check` until true; fails after `ms`. */
async function eventually(check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(50);
  }
}

describe('restore-drill run under a signal', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)(
    '%s mid-restore records the run aborted, removes scratch, leaves no child and exits 1',
    async (signal) => {
      const scratch = path.join(root, 'scratch');
      const before = new Set(await readdir(scratch).catch(() => []));
      running = new CliProcess(['run', '--config', config, '--drill', 'hangs']);
      // Await the restore: its children's pids land beside the scratch folder.
      let pidFile = '';
      await eventually(async () => {
        const added = (await readdir(scratch).catch(() => [])).filter(
          (name) => name.endsWith('.pids') && !before.has(name),
        );
        pidFile = added[0] ? path.join(scratch, added[0]) : '';
        return pidFile !== '' && (await readFile(pidFile, 'utf8')).trim().split('\n').length === 2;
      });
      const pids = (await readFile(pidFile, 'utf8')).trim().split('\n').map(Number);
      running.signal(signal);
      const exit = await running.waitForExit(30_000);
      expect(exit).toEqual({ code: 1, signal: null });
      await eventually(() => pids.every(processGone), 5_000);
      // The scratch folder is gone; only the pid files the test asked for are left.
      expect((await readdir(scratch)).filter((name) => !name.endsWith('.pids'))).toEqual([]);
      const history = await cli(['history', '--config', config, '--drill', 'hangs', '--json']);
      const [latest] = (
        JSON.parse(history.stdout) as { runs: { verdict: string; cause: string }[] }
      ).runs;
      expect(latest).toMatchObject({
        verdict: 'aborted',
        cause: `aborted: stopped before it finished: received ${signal}`,
      });
    },
    60_000,
  );
});

import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { execFileSync } from 'node:child_process';
import { describeExit, runCommand, type RunCommandOptions } from '../../src/exec/run-command.js';

const BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** initdb refuses root: as root, run the server tools as `postgres`. */
function asServerUser(): Pick<RunCommandOptions, 'uid' | 'gid'> {
  if (process.getuid?.() !== 0) return {};
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

/** Runs a server tool; its whole stdout. */
async function run(tool: string, args: string[], cwd: string): Promise<string> {
  const result = await runCommand(join(BIN, tool), args, {
    ...asServerUser(),
    cwd,
    timeoutMs: 60_000,
    keepStdout: true,
  });
  if (result.exitCode !== 0)
    throw new Error(`${tool} failed: ${describeExit(result)}\n${result.stderrTail}`);
  return result.stdout;
}

/** A throwaway PostgreSQL server listening only on a unix socket in its own folder. */
export interface ScratchServer {
  dir: string;
  /** Takes a plain-format base backup into `dir/name` with the given pg_basebackup options. */
  baseBackup(name: string, extraArgs?: string[]): Promise<string>;
  /** Runs SQL in the `postgres` database with psql; its output unaligned, without headers. */
  sql(query: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startScratchServer(): Promise<ScratchServer> {
  const dir = await mkdtemp(join(tmpdir(), 'restore-drill-pg-'));
  const user = asServerUser();
  if (user.uid !== undefined) await chown(dir, user.uid, user.gid!);
  const port = String(20_000 + (process.pid % 20_000));
  const superuser = process.getuid?.() === 0 ? 'postgres' : userInfo().username;
  await run('initdb', ['-D', join(dir, 'data'), '-U', superuser, '-A', 'trust', '--no-sync'], dir);
  await run(
    'pg_ctl',
    [
      '-D',
      join(dir, 'data'),
      '-l',
      join(dir, 'log'),
      '-w',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses= -F`,
      'start',
    ],
    dir,
  );
  return {
    dir,
    async baseBackup(name, extraArgs = []) {
      const target = join(dir, name);
      await run(
        'pg_basebackup',
        [
          '-h',
          dir,
          '-p',
          port,
          '-U',
          superuser,
          '-D',
          target,
          '-X',
          'none',
          '--no-sync',
          ...extraArgs,
        ],
        dir,
      );
      return target;
    },
    async sql(query) {
      const args = ['-h', dir, '-p', port, '-U', superuser, '-d', 'postgres', '-XAtq'];
      return (await run('psql', [...args, '-v', 'ON_ERROR_STOP=1', '-c', query], dir)).trim();
    },
    async stop() {
      await run('pg_ctl', ['-D', join(dir, 'data'), '-m', 'fast', '-w', 'stop'], dir);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

import { constants } from 'node:fs';
import { access, chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describeExit, runCommand, type RunCommandOptions } from '../src/exec/run-command.js';

/** The binaries the pg workload runs, all from `pg_config --bindir`. */
const BINARIES = ['initdb', 'pg_ctl', 'pg_dump', 'pg_restore', 'psql'] as const;

/** Where PostgreSQL's binaries are, and as whom the server runs (initdb refuses root). */
export interface PostgresInstall {
  binDir: string;
  owner: { uid: number; gid: number } | undefined;
}

/** A throw-away PostgreSQL server: trust auth, fsync off, TCP on 127.0.0.1 only. */
export interface BenchPostgres {
  /** URL of the maintenance database `postgres`, for CREATE/DROP DATABASE. */
  adminUrl: string;
  url(database: string): string;
  /** Path of one of the server's client binaries. */
  binary(name: (typeof BINARIES)[number]): string;
  /** Runs SQL in `database` with psql, stopping at the first error. */
  psql(database: string, sql: string): Promise<void>;
  /** Stops the server and removes its folder; safe to call twice. */
  stop(): Promise<void>;
}

/** The PostgreSQL install, or why the pg workload cannot run here. */
export async function findPostgres(): Promise<PostgresInstall | string> {
  const pgConfig = await runCommand('pg_config', ['--bindir']);
  const binDir = pgConfig.stdout.trim();
  if (pgConfig.exitCode !== 0 || binDir === '')
    return 'pg_config not found (install the PostgreSQL server, e.g. the Debian package postgresql)';
  for (const binary of BINARIES) {
    try {
      await access(path.join(binDir, binary), constants.X_OK);
    } catch {
      return `${binary} not found in ${binDir} (pg_config --bindir): install the PostgreSQL server`;
    }
  }
  if (process.getuid?.() !== 0) return { binDir, owner: undefined };
  const uid = await runCommand('id', ['-u', 'postgres']);
  const gid = await runCommand('id', ['-g', 'postgres']);
  if (uid.exitCode !== 0 || gid.exitCode !== 0)
    return 'running as root, and initdb refuses root: the server needs the postgres user';
  return { binDir, owner: { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) } };
}

/** initdb and pg_ctl start into a temp folder, on a free port. */
export async function startPostgres(install: PostgresInstall): Promise<BenchPostgres> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'restore-drill-bench-pg-'));
  const dataDir = path.join(dir, 'data');
  const asOwner: RunCommandOptions = { cwd: dir, timeoutMs: 120_000, ...(install.owner ?? {}) };
  const pgCtl = path.join(install.binDir, 'pg_ctl');
  let running = false;
  const stop = async (): Promise<void> => {
    if (running) {
      running = false;
      const stopped = await runCommand(pgCtl, ['-D', dataDir, '-m', 'fast', '-w', 'stop'], asOwner);
      if (stopped.exitCode !== 0) throw new Error(`pg_ctl stop failed: ${describeExit(stopped)}`);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    if (install.owner) await chown(dir, install.owner.uid, install.owner.gid);
    const initdb = await runCommand(
      path.join(install.binDir, 'initdb'),
      ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C'],
      asOwner,
    );
    if (initdb.exitCode !== 0) throw new Error(`initdb failed: ${describeExit(initdb)}`);
    let port = 0;
    // A free port can be taken between the probe and the server's bind: try a few.
    for (let attempt = 0; attempt < 3 && !running; attempt++) {
      port = await freePort();
      const started = await runCommand(
        pgCtl,
        [
          '-D',
          dataDir,
          '-l',
          path.join(dir, 'log'),
          '-w',
          '-o',
          `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -F`,
          'start',
        ],
        asOwner,
      );
      running = started.exitCode === 0;
    }
    if (!running) {
      const log = await readFile(path.join(dir, 'log'), 'utf8').catch(() => '');
      throw new Error(`pg_ctl start failed:\n${log.slice(-2000)}`);
    }
    const url = (database: string): string => `postgres://postgres@127.0.0.1:${port}/${database}`;
    const binary = (name: (typeof BINARIES)[number]): string => path.join(install.binDir, name);
    const psql = async (database: string, sql: string): Promise<void> => {
      const result = await runCommand(
        binary('psql'),
        ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url(database), '-c', sql],
        { timeoutMs: 600_000 },
      );
      if (result.exitCode !== 0) throw new Error(`psql failed: ${describeExit(result)}`);
    };
    return { adminUrl: url('postgres'), url, binary, psql, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A loopback port nothing listens on now (shared with the tests' PostgreSQL helper). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

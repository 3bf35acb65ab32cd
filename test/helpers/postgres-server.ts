import { chown, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describeExit, runCommand, type CommandResult } from '../../src/exec/run-command.js';
import { freePort } from '../../bench/postgres-server.js';
import { exists } from './run-once.js';

/** How tests reach the server: plain data, so vitest can `provide` it to every worker. */
export interface PostgresServerInfo {
  host: string;
  port: number;
  user: string;
  /** URL of the maintenance database `postgres` (create test databases from here). */
  adminUrl: string;
  /** The server's folder: data, log and unix socket. */
  dir: string;
}

export interface PostgresServer extends PostgresServerInfo {
  stop(): Promise<void>;
  /** Stops the server and keeps its data (`pg_ctl stop -m fast`): clients get ECONNREFUSED until `resume`. */
  pause(): Promise<void>;
  /** Starts a paused server again, on the same port and data. */
  resume(): Promise<void>;
  /** The argv that stops the server, runnable by any process (as the server's owner when tests run as root). */
  pauseArgv: readonly string[];
}

/** Newest first: /usr/lib/postgresql/<major>/bin, then whatever `pg_config --bindir` says. */
export async function findPostgresBinDir(): Promise<string> {
  const candidates: string[] = [];
  try {
    const majors = (await readdir('/usr/lib/postgresql'))
      .filter((name) => /^\d+$/.test(name))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...majors.map((major) => `/usr/lib/postgresql/${major}/bin`));
  } catch {
    // No Debian layout; try pg_config.
  }
  const pgConfig = await runCommand('pg_config', ['--bindir']);
  if (pgConfig.exitCode === 0 && pgConfig.stdout.trim() !== '')
    candidates.push(pgConfig.stdout.trim());
  for (const dir of candidates) {
    if ((await exists(join(dir, 'initdb'))) && (await exists(join(dir, 'pg_ctl')))) return dir;
  }
  throw new Error(
    'PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin or `pg_config --bindir`; ' +
      'the evidence tests need a real server: install the Debian package postgresql',
  );
}

/**
 * Starts a real, throw-away PostgreSQL server (trust auth, fsync off, TCP on
 * 127.0.0.1 and a unix socket in its own folder). initdb refuses to run as root,
 * so as root the folder is given to the `postgres` user and the tools run as it.
 * Fails loudly when the binaries or that user are missing: never a skip.
 */
export async function startPostgresServer(): Promise<PostgresServer> {
  const binDir = await findPostgresBinDir();
  const dir = await mkdtemp(join(tmpdir(), 'restore-drill-pg-'));
  try {
    const owner = process.getuid?.() === 0 ? await postgresUser() : undefined;
    if (owner) await chown(dir, owner.uid, owner.gid);
    const asOwner = { cwd: dir, timeoutMs: 60_000, ...(owner ?? {}) };
    const dataDir = join(dir, 'data');
    const initdb = await runCommand(
      join(binDir, 'initdb'),
      ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C'],
      asOwner,
    );
    if (initdb.exitCode !== 0) throw new Error(`initdb failed: ${describeExit(initdb)}`);

    let started: CommandResult | undefined;
    let port = 0;
    // A free port can be taken between the probe and the server's bind: try a few.
    for (let attempt = 0; attempt < 3; attempt++) {
      port = await freePort();
      const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -F`;
      started = await runCommand(
        join(binDir, 'pg_ctl'),
        ['-D', dataDir, '-l', join(dir, 'log'), '-w', '-o', options, 'start'],
        asOwner,
      );
      if (started.exitCode === 0) break;
    }
    if (started?.exitCode !== 0) {
      const log = await readFile(join(dir, 'log'), 'utf8').catch(() => '');
      throw new Error(
        `pg_ctl start failed: ${started ? describeExit(started) : 'not run'}\n${log.slice(-2000)}`,
      );
    }
    const info: PostgresServerInfo = {
      host: '127.0.0.1',
      port,
      user: 'postgres',
      adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
      dir,
    };
    const pgCtl = join(binDir, 'pg_ctl');
    const pauseArgs = ['-D', dataDir, '-m', 'fast', '-w', 'stop'];
    const startArgs = [
      '-D',
      dataDir,
      '-l',
      join(dir, 'log'),
      '-w',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -F`,
      'start',
    ];
    const ctl = async (args: string[], what: string) => {
      const result = await runCommand(pgCtl, args, asOwner);
      if (result.exitCode !== 0) throw new Error(`pg_ctl ${what} failed: ${describeExit(result)}`);
    };
    return {
      ...info,
      pause: () => ctl(pauseArgs, 'stop'),
      resume: () => ctl(startArgs, 'start'),
      pauseArgv: owner
        ? ['runuser', '-u', 'postgres', '--', pgCtl, ...pauseArgs]
        : [pgCtl, ...pauseArgs],
      stop: async () => {
        const stopped = await runCommand(
          join(binDir, 'pg_ctl'),
          ['-D', dataDir, '-m', 'fast', '-w', 'stop'],
          asOwner,
        );
        await rm(dir, { recursive: true, force: true });
        if (stopped.exitCode !== 0) throw new Error(`pg_ctl stop failed: ${describeExit(stopped)}`);
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Creates an empty database on the server; returns its URL. */
export async function createDatabaseOn(server: PostgresServerInfo, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  return `postgres://${server.user}@${server.host}:${server.port}/${name}`;
}

async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const uid = await runCommand('id', ['-u', 'postgres']);
  const gid = await runCommand('id', ['-g', 'postgres']);
  if (uid.exitCode !== 0 || gid.exitCode !== 0) {
    throw new Error(
      'tests run as root, and initdb refuses root: they need the `postgres` user to run the test server (install the Debian package postgresql)',
    );
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

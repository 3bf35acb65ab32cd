/**
 * `npm run bench`: the real `restore-drill` CLI process (start-up, embedded evidence store,
 * restore, verification, evidence write, scratch removal) against what a user would script on
 * the same data (cp + openssl, cp -r + sha256sum -c, tar -xzf, restic restore, an AWS SDK
 * download loop from s3rver, pg_restore + count(*) on a PostgreSQL server), in the same run.
 * Each round runs A then B, the same number of rounds per side; both sides delete what they
 * restored inside the timed command (restore-drill removes its scratch folder, the scripts end
 * in `rm -rf`), then both `sync` and pause alike, so neither pays for the other's deletes.
 * Times are medians; peak RSS comes from the OS for the whole process tree. The data is warm:
 * written just before, so in the page cache. `--quick` runs a smaller data set in under 3
 * minutes; `--rounds N` sets the rounds (at least 3); `--only big,tree` runs some workloads.
 * BENCH_STRICT=1 exits 1 on any miss.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describeExit, runCommand } from '../src/exec/run-command.js';
import { postgresSourceConfigSchema } from '../src/sources/postgres-source-config.js';
import { s3SourceConfigSchema } from '../src/sources/s3-source-config.js';
import { measure, median, type Sample } from './measure.js';
import { findPostgres, startPostgres, type BenchPostgres } from './postgres-server.js';
import {
  s3rverMissing,
  S3RVER_CREDENTIALS,
  startS3Server,
  type BenchS3Server,
} from './s3-server.js';
import { seedRuns } from './seed-runs.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const roundsAt = args.indexOf('--rounds');
const rounds = Math.max(3, roundsAt >= 0 ? Number(args[roundsAt + 1]) : 3);
const WORKLOADS = [
  'big',
  'tree',
  'tgz',
  'restic',
  's3',
  'pg',
  'startup',
  'one',
  'history',
] as const;
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? (args[onlyAt + 1] ?? '').split(',') : [...WORKLOADS];
for (const name of only) {
  if (!(WORKLOADS as readonly string[]).includes(name))
    throw new Error(
      `--only: '${name}' is not a workload; expected some of ${WORKLOADS.join(', ')}`,
    );
}
/** True when the workload runs (`--only big,tree` picks some while working on them). */
const wants = (workload: (typeof WORKLOADS)[number]): boolean => only.includes(workload);
const MiB = 2 ** 20;
const scale = quick
  ? {
      bigBytes: 128 * MiB,
      smallFiles: 2_000,
      largeFiles: 20,
      storedRuns: 2_000,
      s3Every: 1,
      pgCustomers: 5_000,
      pgOrders: 20_000,
      settleMs: 500,
    }
  : {
      bigBytes: 1024 * MiB,
      smallFiles: 20_000,
      largeFiles: 200,
      storedRuns: 100_000,
      // s3rver served 80 objects a second on a busy machine: a quarter of the tree, not 20,200.
      s3Every: 4,
      pgCustomers: 100_000,
      pgOrders: 400_000,
      settleMs: 3_000,
    };
const CLI = fileURLToPath(new URL('../bin/restore-drill.js', import.meta.url));
const RESTIC_PASSWORD = 'bench-only-password';
/** The s3 workload's alternative, a plain SDK download loop. */
const S3_DOWNLOAD = fileURLToPath(new URL('./s3-download.js', import.meta.url));
const S3_BUCKET = 'bench';
/** Downloads at once on both sides of the s3 workload: the s3 source's default. */
const S3_CONCURRENCY = s3SourceConfigSchema.shape.concurrency.parse(undefined);
/** pg_restore -j on both sides of the pg workload: the postgres source's default. */
const PG_JOBS = postgresSourceConfigSchema.shape.jobs.parse(undefined);
/** Rows of order_lines per order in the pg workload's database. */
const LINES_PER_ORDER = 3;
/** Every workload's peak RSS ceiling (issue 13). */
const PEAK_MB = 200;

interface Row {
  workload: string;
  ours: Sample[];
  theirs?: Sample[];
  alternative?: string;
  /** Ratio ceiling (ours ÷ theirs), or a time ceiling in seconds. */
  target: { ratio: number } | { seconds: number };
}

async function settle(): Promise<void> {
  await runCommand('sync', []);
  await sleep(scale.settleMs);
}

/** A rounds-long A B A B comparison, each side settling the same way after each command. */
async function compare(
  ours: () => Promise<Sample>,
  theirs: () => Promise<Sample>,
): Promise<{ ours: Sample[]; theirs: Sample[] }> {
  const a: Sample[] = [];
  const b: Sample[] = [];
  for (let round = 0; round < rounds; round++) {
    a.push(await ours());
    await settle();
    b.push(await theirs());
    await settle();
  }
  return { ours: a, theirs: b };
}

async function alone(ours: () => Promise<Sample>): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (let round = 0; round < rounds; round++) samples.push(await ours());
  return samples;
}

async function writeRandomFile(file: string, bytes: number): Promise<string> {
  const handle = await open(file, 'w');
  const hash = createHash('sha256');
  try {
    for (let written = 0; written < bytes;) {
      const chunk = randomBytes(Math.min(8 * MiB, bytes - written));
      await handle.write(chunk);
      hash.update(chunk);
      written += chunk.length;
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Writes the tree (small files, then 1 MiB ones, in 100 folders) and returns its sha256sum lines. */
async function writeTree(dir: string): Promise<string> {
  const lines: string[] = [];
  const total = scale.smallFiles + scale.largeFiles;
  for (let i = 0; i < total; i++) {
    const folder = `d${String(i % 100).padStart(2, '0')}`;
    if (i < 100) await mkdir(path.join(dir, folder), { recursive: true });
    const name = `${folder}/f${i}.dat`;
    const body = randomBytes(i < scale.smallFiles ? 4096 : MiB);
    await writeFile(path.join(dir, name), body);
    lines.push(`${createHash('sha256').update(body).digest('hex')}  ${name}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The pg workload's tables and their row counts, in the order the alternative counts them. */
function shopTables(): { name: string; rows: number }[] {
  return [
    { name: 'customers', rows: scale.pgCustomers },
    { name: 'orders', rows: scale.pgOrders },
    { name: 'order_lines', rows: scale.pgOrders * LINES_PER_ORDER },
  ];
}

/**
 * Fills database `shop` (keys, a foreign key each, an index), writes its `pg_dump -Fc` to
 * `dump` and its restore-drill manifest of row counts to `manifest`, then drops it: the
 * scratch server holds only what the drills restore.
 */
async function writeShopDump(
  server: BenchPostgres,
  files: { dump: string; manifest: string },
): Promise<void> {
  const customers = scale.pgCustomers;
  await server.psql('postgres', 'create database shop');
  await server.psql(
    'shop',
    `create table customers (id int primary key, name text not null, email text not null,
       created_at timestamptz not null);
     insert into customers select i, 'customer ' || i, 'c' || i || '@example.com',
       timestamptz '2026-01-01' + i * interval '1 minute' from generate_series(1, ${customers}) i;
     create table orders (id bigint primary key, customer_id int not null references customers,
       total numeric(12, 2) not null, placed_at timestamptz not null);
     insert into orders select i, 1 + i % ${customers}, (i % 100000) / 100.0,
       timestamptz '2026-01-01' + i * interval '1 second' from generate_series(1, ${scale.pgOrders}) i;
     create index on orders (customer_id);
     create table order_lines (order_id bigint not null references orders, line int not null,
       sku text not null, quantity int not null, price numeric(10, 2) not null,
       primary key (order_id, line));
     insert into order_lines select 1 + (i - 1) / ${LINES_PER_ORDER}, 1 + (i - 1) % ${LINES_PER_ORDER},
       'SKU-' || i % 5000, 1 + i % 7, (i % 10000) / 100.0
       from generate_series(1, ${scale.pgOrders * LINES_PER_ORDER}) i;
     analyze;`,
  );
  const dumped = await runCommand(server.binary('pg_dump'), [
    '-Fc',
    '-f',
    files.dump,
    server.url('shop'),
  ]);
  if (dumped.exitCode !== 0) throw new Error(`pg_dump failed: ${describeExit(dumped)}`);
  const listed = await runCommand(process.execPath, [
    CLI,
    'manifest',
    '--database',
    server.url('shop'),
    '--no-digests',
    '--out',
    files.manifest,
  ]);
  if (listed.exitCode !== 0)
    throw new Error(`restore-drill manifest failed: ${describeExit(listed)}`);
  await server.psql('postgres', 'drop database shop');
}

async function main(): Promise<void> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'restore-drill-bench-'));
  const started = new Date();
  const loadAtStart = os.loadavg()[0] ?? 0;
  const log = (line: string): boolean => process.stderr.write(`bench: ${line}\n`);
  const servers: { stop(): Promise<void> }[] = [];
  const stopServers = async (): Promise<void> => {
    for (const server of servers.splice(0))
      await server
        .stop()
        .catch((error: unknown) => log(`could not stop a server: ${String(error)}`));
  };
  // Interrupted, the bench must not leave a PostgreSQL server running behind it.
  const interrupted = (): void => void stopServers().finally(() => process.exit(130));
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    log(`writing data under ${root}`);
    await mkdir(path.join(root, 'big', 'set'), { recursive: true });
    const bigHash = wants('big')
      ? await writeRandomFile(path.join(root, 'big', 'set', 'large.bin'), scale.bigBytes)
      : '';
    await writeFile(path.join(root, 'big', 'set.sha256'), `${bigHash}  large.bin\n`);
    if (wants('big') && (await sha256(path.join(root, 'big', 'set', 'large.bin'))) !== bigHash)
      throw new Error('the large file does not read back as written');

    const treeSet = path.join(root, 'tree', 'set');
    const treeFiles = scale.smallFiles + scale.largeFiles;
    if (wants('tree') || wants('tgz') || wants('restic') || wants('s3')) {
      const treeSums = await writeTree(treeSet);
      await writeFile(path.join(root, 'tree', 'set.sha256'), treeSums);
      // The archive carries its manifest inside, as a backup job would write it.
      await writeFile(path.join(treeSet, 'SHA256SUMS'), treeSums);
      await mkdir(path.join(root, 'tgz'));
      const tarred = await runCommand('tar', [
        '-czf',
        path.join(root, 'tgz', 'set.tar.gz'),
        '-C',
        treeSet,
        '.',
      ]);
      if (tarred.exitCode !== 0) throw new Error(`tar -czf failed: ${tarred.stderrTail}`);
      await rm(path.join(treeSet, 'SHA256SUMS'));
    }

    await mkdir(path.join(root, 'one', 'set'), { recursive: true });
    await writeFile(path.join(root, 'one', 'set', 'a.txt'), 'hello\n');
    await writeFile(
      path.join(root, 'one', 'set.sha256'),
      `${createHash('sha256').update('hello\n').digest('hex')}  a.txt\n`,
    );

    const restic = wants('restic') && (await hasBinary('restic'));
    const resticEnv = { RESTIC_PASSWORD, RESTIC_CACHE_DIR: path.join(root, 'restic-cache') };
    if (restic) {
      log('backing the tree up with restic');
      for (const argv of [
        ['init', '--repo', 'restic'],
        ['backup', '--repo', 'restic', '--quiet', 'tree/set'],
      ]) {
        const result = await runCommand('restic', argv, { cwd: root, env: resticEnv });
        if (result.exitCode !== 0)
          throw new Error(`restic ${argv[0]} failed: ${result.stderrTail}`);
      }
      await writeFile(path.join(root, 'restic.pass'), `${RESTIC_PASSWORD}\n`);
    }

    const s3Missing = wants('s3') ? s3rverMissing() : null;
    if (s3Missing !== null) log(`no s3 workload: ${s3Missing}`);
    let s3: BenchS3Server | undefined;
    const s3Small = Math.ceil(scale.smallFiles / scale.s3Every);
    const s3Large = Math.ceil(treeFiles / scale.s3Every) - s3Small;
    const s3Objects = s3Small + s3Large + 1; // and SHA256SUMS
    if (wants('s3') && s3Missing === null) {
      log(`uploading ${s3Objects} objects to s3rver`);
      await mkdir(path.join(root, 's3rver'));
      s3 = await startS3Server(path.join(root, 's3rver'));
      servers.push(s3);
      // sha256sum lines, small files first: 64 hex digits, two spaces, the name.
      const lines = (await readFile(path.join(root, 'tree', 'set.sha256'), 'utf8'))
        .trimEnd()
        .split('\n')
        .filter((_, index) => index % scale.s3Every === 0);
      await s3.createBucket(S3_BUCKET);
      // The set's manifest beside its folders, as a backup job writes it: s3rver lists a
      // common prefix only when an object sits directly under it (AWS S3 does regardless).
      await s3.put(S3_BUCKET, 'tree/set/SHA256SUMS', `${lines.join('\n')}\n`);
      const names = lines.map((line) => line.slice(66));
      await s3.upload(S3_BUCKET, 'tree/set/', treeSet, names);
    }

    const postgres = wants('pg') ? await findPostgres() : undefined;
    if (typeof postgres === 'string') log(`no pg workload: ${postgres}`);
    let pg: BenchPostgres | undefined;
    const pgManifest = path.join(root, 'pg', 'shop.manifest.json');
    if (typeof postgres === 'object') {
      log('starting PostgreSQL, filling a database and dumping it');
      pg = await startPostgres(postgres);
      servers.push(pg);
      await mkdir(path.join(root, 'pg'));
      await writeShopDump(pg, { dump: path.join(root, 'pg', 'shop.dump'), manifest: pgManifest });
    }

    const drill = (name: string, source: string, checks: string): string =>
      `  - name: ${name}\n    source: ${source}\n    checks: ${checks}\n`;
    const manifest = (at: string): string =>
      `{ manifest: { format: sha256sum, path: '${at}' }, extraFiles: fail }`;
    await writeFile(
      path.join(root, 'restore-drill.yaml'),
      'scratch:\n  root: ./scratch\ndrills:\n' +
        drill('big', '{ kind: directory, path: big/* }', manifest('{set}.sha256')) +
        drill('tree', '{ kind: directory, path: tree/* }', manifest('{set}.sha256')) +
        drill('tgz', '{ kind: tar, path: tgz/*.tar.gz }', manifest('SHA256SUMS')) +
        drill('one', '{ kind: directory, path: one/* }', manifest('{set}.sha256')) +
        (restic
          ? drill(
              'restic',
              '{ kind: restic, repository: restic, passwordFile: restic.pass, cacheDir: restic-cache }',
              `{ files: { exact: ${treeFiles} } }`,
            )
          : '') +
        // The s3 source checks each object's ETag or stored checksum itself.
        (s3
          ? drill(
              's3',
              `{ kind: s3, bucket: ${S3_BUCKET}, prefix: tree/, endpoint: '${s3.endpoint}', forcePathStyle: true, layout: prefixes, credentials: { accessKeyId: ${S3RVER_CREDENTIALS.accessKeyId}, secretAccessKey: ${S3RVER_CREDENTIALS.secretAccessKey} }, checksums: { request: WHEN_REQUIRED, response: WHEN_REQUIRED } }`,
              `{ files: { exact: ${s3Objects} } }`,
            )
          : '') +
        (pg
          ? drill(
              'pg',
              `{ kind: postgres, path: pg/*.dump, scratchServer: { url: '${pg.adminUrl}' }, pgRestore: '${pg.binary('pg_restore')}', psql: '${pg.binary('psql')}' }`,
              `{ manifest: { format: restore-drill, path: '${pgManifest}' }, tables: { from: manifest } }`,
            )
          : ''),
    );
    await mkdir(path.join(root, 'scratch'));
    const cli = (...argv: string[]): Promise<Sample> =>
      measure(
        process.execPath,
        [CLI, ...argv, '--config', 'restore-drill.yaml', '--log-level', 'warn'],
        { cwd: root },
      );
    const run = (name: string) => (): Promise<Sample> => cli('run', '--drill', name);
    const sh = (script: string, env?: Record<string, string>) => (): Promise<Sample> =>
      measure('sh', ['-c', script], { cwd: root, ...(env ? { env } : {}) });
    // Creates the embedded store (PGlite's initdb) before anything is measured.
    await cli('run', '--drill', 'one');

    const rows: Row[] = [];
    if (wants('big')) {
      log(`one ${scale.bigBytes / MiB} MiB file`);
      rows.push({
        workload: `one ${scale.bigBytes / MiB} MiB file, directory`,
        ...(await compare(
          run('big'),
          sh(
            `mkdir out && cp big/set/large.bin out/ && [ "$(openssl dgst -sha256 -r out/large.bin | cut -d' ' -f1)" = "${bigHash}" ]; s=$?; rm -rf out; exit $s`,
          ),
        )),
        alternative: 'cp + openssl dgst -sha256',
        target: { ratio: 1.35 },
      });
    }
    if (wants('tree')) {
      log(`${treeFiles} files`);
      rows.push({
        workload: `${treeFiles} files (${scale.smallFiles} × 4 KiB + ${scale.largeFiles} × 1 MiB), directory`,
        ...(await compare(
          run('tree'),
          sh(
            'cp -r tree/set out && (cd out && sha256sum -c --quiet ../tree/set.sha256); s=$?; rm -rf out; exit $s',
          ),
        )),
        alternative: 'cp -r + sha256sum -c',
        target: { ratio: 1.0 },
      });
    }
    if (wants('tgz')) {
      log('the tree as .tar.gz');
      rows.push({
        workload: 'the same tree as .tar.gz',
        ...(await compare(
          run('tgz'),
          sh('mkdir out && tar -xzf tgz/set.tar.gz -C out; s=$?; rm -rf out; exit $s'),
        )),
        alternative: 'tar -xzf alone',
        target: { ratio: 1.0 },
      });
    }
    if (restic) {
      log('restic');
      rows.push({
        workload: 'the same tree from a restic snapshot',
        ...(await compare(
          run('restic'),
          sh(
            'restic restore latest --repo restic --target out --quiet; s=$?; rm -rf out; exit $s',
            resticEnv,
          ),
        )),
        alternative: 'restic restore alone',
        target: { ratio: 1.1 },
      });
    }
    if (s3) {
      log('s3');
      const endpoint = s3.endpoint;
      const files =
        scale.s3Every === 1
          ? 'the same tree'
          : `1 in ${scale.s3Every} files of the tree (${s3Small} × 4 KiB + ${s3Large} × 1 MiB)`;
      rows.push({
        workload: `${files} + SHA256SUMS from an S3 prefix (s3rver)`,
        ...(await compare(run('s3'), () =>
          measure(
            process.execPath,
            [
              S3_DOWNLOAD,
              endpoint,
              S3_BUCKET,
              'tree/set/',
              'out',
              String(S3_CONCURRENCY),
              String(s3Objects),
            ],
            { cwd: root },
          ),
        )),
        alternative: `SDK download loop, ${S3_CONCURRENCY} at a time`,
        target: { ratio: 1.1 },
      });
    }
    if (pg) {
      log('pg');
      const tables = shopTables();
      const rowsTotal = tables.reduce((total, table) => total + table.rows, 0);
      const alternative = pg.url('bench_alternative');
      const psql = `${pg.binary('psql')} -X -q -v ON_ERROR_STOP=1`;
      const counts = tables.map((table) => `(select count(*) from public.${table.name})`);
      const expected = tables.map((table) => table.rows).join('|');
      rows.push({
        workload: `a pg_dump -Fc of ${rowsTotal} rows in ${tables.length} tables`,
        ...(await compare(
          run('pg'),
          sh(
            `${psql} -d ${pg.adminUrl} -c 'create database bench_alternative template template0' && ` +
              `${pg.binary('pg_restore')} --no-owner --no-acl -j ${PG_JOBS} -d ${alternative} pg/shop.dump && ` +
              `[ "$(${psql} -At -d ${alternative} -c 'select ${counts.join(', ')}')" = '${expected}' ]; ` +
              `s=$?; ${psql} -d ${pg.adminUrl} -c 'drop database if exists bench_alternative'; exit $s`,
          ),
        )),
        alternative: `pg_restore -j ${PG_JOBS} + count(*) of each table`,
        target: { ratio: 1.1 },
      });
    }
    if (wants('startup')) {
      log('start-up');
      rows.push({
        workload: '`restore-drill --version`',
        ...(await compare(
          () => measure(process.execPath, [CLI, '--version'], { cwd: root }),
          () => measure(process.execPath, ['-e', '0'], { cwd: root }),
        )),
        alternative: 'node -e 0',
        target: { seconds: 0.15 },
      });
    }
    if (wants('one'))
      rows.push({
        workload: 'a drill of one small file (embedded store)',
        ours: await alone(run('one')),
        target: { seconds: 0.5 },
      });
    if (wants('history')) {
      log(`storing ${scale.storedRuns} runs`);
      await seedRuns(path.join(root, '.restore-drill'), scale.storedRuns);
      rows.push({
        workload: `\`history\` over ${scale.storedRuns} stored runs (embedded store)`,
        ours: await alone(() => cli('history')),
        target: { seconds: 0.3 },
      });
    }

    printTable(rows, { started, loadAtStart, loadAtEnd: os.loadavg()[0] ?? 0 });
  } finally {
    await stopServers();
    await rm(root, { recursive: true, force: true });
  }
}

async function hasBinary(name: string): Promise<boolean> {
  return (await runCommand(name, ['version'])).exitCode === 0;
}

const seconds = (value: number): string => `${value.toFixed(2)} s`;

function printTable(
  rows: readonly Row[],
  context: { started: Date; loadAtStart: number; loadAtEnd: number },
): void {
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  const out: string[] = [
    `restore-drill bench${quick ? ' --quick' : ''}: ${context.started.toISOString().slice(0, 16)}Z, node ${process.version}, ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    `warm data (written just before); ${rounds} rounds, A B A B, medians; both sides delete their output, then sync and pause ${scale.settleMs / 1000} s; load average ${context.loadAtStart.toFixed(1)} → ${context.loadAtEnd.toFixed(1)}`,
    '',
    '| workload | restore-drill | CPU | peak RSS | the scripted alternative | ratio | target | |',
    '|---|---|---|---|---|---|---|---|',
  ];
  let missed = false;
  for (const row of rows) {
    const ours = median(row.ours.map((sample) => sample.seconds));
    const cpuSeconds = median(row.ours.map((sample) => sample.cpuSeconds));
    const peak = Math.max(...row.ours.map((sample) => sample.peakMb));
    const theirs = row.theirs && median(row.theirs.map((sample) => sample.seconds));
    const ratio = theirs === undefined ? undefined : ours / theirs;
    const met =
      peak <= PEAK_MB &&
      ('ratio' in row.target
        ? (ratio ?? Infinity) <= row.target.ratio
        : ours <= row.target.seconds);
    missed ||= !met;
    const alternative =
      theirs === undefined
        ? ''
        : `${row.alternative}: ${seconds(theirs)}, ${Math.max(...row.theirs!.map((sample) => sample.peakMb)).toFixed(0)} MB`;
    const target =
      'ratio' in row.target ? `≤ ${row.target.ratio}×` : `≤ ${seconds(row.target.seconds)}`;
    out.push(
      `| ${row.workload} | ${seconds(ours)} | ${seconds(cpuSeconds)} | ${peak.toFixed(0)} MB | ${alternative} | ${ratio === undefined ? '' : `${ratio.toFixed(2)}×`} | ${target}, ≤ ${PEAK_MB} MB | ${met ? 'PASS' : 'MISS'} |`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
  if (missed && process.env.BENCH_STRICT === '1') process.exitCode = 1;
}

await main();

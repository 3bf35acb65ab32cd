/**
 * `npm run bench`: restore-drill against the standard tools on the same data, in the
 * same run, printed as ratios (ours ÷ theirs; lower is better). Sizes scale with
 * BENCH_SCALE (default 1: a 512 MiB file, 20,000 small files). Targets from
 * ../shared/ROADMAP.md are printed beside each ratio; a missed target is reported,
 * not hidden, and makes the exit code 1 only with BENCH_STRICT=1.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildChecks } from '../src/checks/registry.js';
import { silentLogger } from '../src/log/logger.js';
import { hashFile } from '../src/manifest/hash-file.js';
import { directorySourceKind } from '../src/sources/directory-source.js';
import type { BackupSet, RestoreSource } from '../src/sources/restore-source.js';
import { tarSourceKind } from '../src/sources/tar-source.js';

const scale = Number(process.env.BENCH_SCALE ?? '1');
const log = silentLogger();
const rows: {
  name: string;
  ours: number;
  theirs: number;
  tool: string;
  unit: string;
  target?: string;
  ok?: boolean;
}[] = [];

async function time<T>(fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await fn();
  return { ms: performance.now() - start, value };
}

function sh(file: string, args: string[], cwd?: string): void {
  execFileSync(file, args, { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
}

async function best(runs: number, fn: () => Promise<unknown> | unknown): Promise<number> {
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) min = Math.min(min, (await time(fn)).ms);
  return min;
}

async function restoreAndVerify(
  source: RestoreSource,
  set: BackupSet,
  scratch: string,
  manifest: string,
): Promise<void> {
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
  const outcome = await source.restore(set, scratch, { items: null, log });
  const checks = buildChecks(
    { manifest: { format: 'sha256sum', path: manifest }, extraFiles: 'fail' },
    undefined,
  );
  for (const check of checks) {
    const results = await check.run({
      set,
      scratchDir: scratch,
      outcome,
      sampled: false,
      sample: null,
      startedAt: new Date(),
      elapsedMs: () => 0,
    });
    const failed = results.find((result) => result.verdict === 'failed');
    if (failed)
      throw new Error(`bench data failed its own check: ${failed.name}: ${failed.detail}`);
  }
}

async function main(): Promise<void> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'restore-drill-bench-'));
  try {
    // 1. One large file: hashing throughput against openssl.
    const bigDir = path.join(root, 'big', 'set');
    await mkdir(bigDir, { recursive: true });
    const bigFile = path.join(bigDir, 'large.bin');
    const bigBytes = Math.round(512 * 1024 * 1024 * scale);
    const chunk = randomBytes(8 * 1024 * 1024);
    const handle = await import('node:fs/promises').then((fs) => fs.open(bigFile, 'w'));
    for (let written = 0; written < bigBytes; written += chunk.length)
      await handle.write(chunk, 0, Math.min(chunk.length, bigBytes - written));
    await handle.close();
    const opensslMs = await best(3, () => sh('openssl', ['dgst', '-sha256', bigFile]));
    const sha256sumMs = await best(1, () => sh('sha256sum', [bigFile]));
    const oursHashMs = await best(3, () => hashFile(bigFile, ['sha256']));
    rows.push({
      name: `hash one ${Math.round(bigBytes / 2 ** 20)} MiB file`,
      ours: oursHashMs,
      theirs: opensslMs,
      tool: 'openssl dgst -sha256',
      unit: 'ms',
      target: '≤ 1.35',
      ok: oursHashMs / opensslMs <= 1.35,
    });
    rows.push({
      name: '  (same file)',
      ours: oursHashMs,
      theirs: sha256sumMs,
      tool: 'sha256sum',
      unit: 'ms',
    });

    // 2. Restore the large file (copy + hash in one pass) against cp + openssl (two passes).
    await writeFile(
      path.join(bigDir, 'SHA256SUMS'),
      execFileSync('sha256sum', ['large.bin'], { cwd: bigDir }),
    );
    const dirSource = directorySourceKind.create(
      { kind: 'directory', path: path.join(root, 'big', '*'), select: 'latest' },
      { configDir: root, log },
    );
    const [bigSet] = await dirSource.listSets({});
    const scratch = path.join(root, 'scratch');
    const oursBigRestore = await best(2, () =>
      restoreAndVerify(dirSource, bigSet!, scratch, 'SHA256SUMS'),
    );
    const cpThenHash = await best(2, async () => {
      await rm(scratch, { recursive: true, force: true });
      sh('cp', ['-r', bigDir, scratch]);
      sh('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], scratch);
    });
    rows.push({
      name: 'restore + verify the large file',
      ours: oursBigRestore,
      theirs: cpThenHash,
      tool: 'cp -r && sha256sum -c',
      unit: 'ms',
    });
    await rm(path.join(root, 'big'), { recursive: true, force: true });

    // 3. Many small files from a folder: files per second.
    const smallCount = Math.round(20_000 * scale);
    const smallDir = path.join(root, 'small', 'set');
    for (let i = 0; i < smallCount; i++) {
      const dir = path.join(smallDir, `d${i % 100}`);
      if (i < 100) await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, `f${i}.dat`), randomBytes(512 + (i % 16) * 512));
    }
    execFileSync(
      'sh',
      [
        '-c',
        'find . -type f -printf "%P\\n" | sort | xargs -d "\\n" sha256sum > ../SHA256SUMS.small',
      ],
      { cwd: smallDir },
    );
    const smallSource = directorySourceKind.create(
      { kind: 'directory', path: path.join(root, 'small', 'set'), select: 'latest' },
      { configDir: root, log },
    );
    const [smallSet] = await smallSource.listSets({});
    const manifest = path.join(root, 'small', 'SHA256SUMS.small');
    const oursSmall = await best(2, () =>
      restoreAndVerify(smallSource, smallSet!, scratch, manifest),
    );
    const cpSmall = await best(2, async () => {
      await rm(scratch, { recursive: true, force: true });
      sh('cp', ['-r', smallDir, scratch]);
    });
    const filesPerSecond = smallCount / (oursSmall / 1000);
    rows.push({
      name: `restore + verify ${smallCount} small files (${Math.round(filesPerSecond)} files/s)`,
      ours: oursSmall,
      theirs: cpSmall,
      tool: 'cp -r (no verify)',
      unit: 'ms',
      target: '≥ 20k files/s',
      ok: filesPerSecond >= 20_000,
    });

    // 4. A tar.gz archive: restore + verify against the bare `tar -xzf`.
    const archiveDir = path.join(root, 'archives');
    await mkdir(archiveDir, { recursive: true });
    await writeFile(
      path.join(smallDir, 'SHA256SUMS'),
      execFileSync(
        'sh',
        [
          '-c',
          'find . -type f ! -name SHA256SUMS -printf "%P\\n" | sort | xargs -d "\\n" sha256sum',
        ],
        { cwd: smallDir },
      ),
    );
    sh('tar', ['-czf', path.join(archiveDir, 'set.tar.gz'), '-C', smallDir, '.']);
    const tarSource = tarSourceKind.create(
      { kind: 'tar', path: path.join(archiveDir, '*.tar.gz'), select: 'latest' },
      { configDir: root, log },
    );
    const [tarSet] = await tarSource.listSets({});
    const oursTar = await best(2, () =>
      restoreAndVerify(tarSource, tarSet!, scratch, 'SHA256SUMS'),
    );
    const bareTar = await best(2, async () => {
      await rm(scratch, { recursive: true, force: true });
      await mkdir(scratch);
      sh('tar', ['-xzf', path.join(archiveDir, 'set.tar.gz'), '-C', scratch]);
    });
    rows.push({
      name: 'restore + verify a tar.gz',
      ours: oursTar,
      theirs: bareTar,
      tool: 'tar -xzf (no verify)',
      unit: 'ms',
      target: '≤ 1.25',
      ok: oursTar / bareTar <= 1.25,
    });
  } finally {
    await rm(root, { recursive: true, force: true });
  }

  const peakMb = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(
    `restore-drill bench (scale ${scale}, node ${process.version}, ${os.cpus().length} cores, load ${os.loadavg()[0]?.toFixed(1)})\n\n`,
  );
  process.stdout.write(
    `${'case'.padEnd(58)} ${'ours'.padStart(9)} ${'theirs'.padStart(9)}  ratio  target     tool\n`,
  );
  for (const row of rows) {
    const ratio = row.ours / row.theirs;
    const mark = row.ok === undefined ? '' : row.ok ? 'met' : 'MISSED';
    process.stdout.write(
      `${row.name.padEnd(58)} ${row.ours.toFixed(0).padStart(7)}ms ${row.theirs.toFixed(0).padStart(7)}ms  ${ratio.toFixed(2).padStart(5)}  ${(row.target ?? '').padEnd(14)} ${mark.padEnd(6)} ${row.tool}\n`,
    );
  }
  const memoryOk = peakMb <= 200;
  process.stdout.write(
    `\npeak RSS ${peakMb.toFixed(0)} MB (target ≤ 200 MB: ${memoryOk ? 'met' : 'MISSED'})\n`,
  );
  if (process.env.BENCH_STRICT === '1' && (!memoryOk || rows.some((row) => row.ok === false)))
    process.exitCode = 1;
}

await main();

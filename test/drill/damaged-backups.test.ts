import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { runDrill } from '../../src/drill/run-drill.js';
import type { RunRecord } from '../../src/evidence/run-record.js';
import { getRun } from '../../src/evidence/runs.js';
import { silentLogger } from '../../src/log/logger.js';
import { run, writeTree } from '../helpers/artefacts.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { tempDir } from '../helpers/temp.js';
import { openTestStore, type TestStore } from '../helpers/test-store.js';

/** Damaged archives are `failed` with their partial facts; a full scratch is a recorded `error`. */
describe('runDrill: damaged tar archives and a full scratch', () => {
  let t: TestStore;
  let base: string;
  let backups: string;
  let small: string;
  let mounted = false;

  beforeAll(async () => {
    t = await openTestStore('postgres');
    base = await tempDir('restore-drill-damage-');
    backups = path.join(base, 'backups');
    small = path.join(base, 'small');
    await mkdir(small);
    // A real small file system: scratch fills up for real, ENOSPC included.
    await run('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', small]);
    mounted = true;
  }, SLOW_STORE_MS);
  afterAll(async () => {
    if (mounted) await run('umount', [small]);
    await t?.cleanup();
  }, SLOW_STORE_MS);

  /** A tar drill over `backups/<name>/*.tar*`, scratch in `scratchRoot`. */
  async function drill(name: string, scratchRoot: string): Promise<RunRecord> {
    const text = stringify({
      scratch: { root: scratchRoot },
      drills: [
        {
          name,
          source: { kind: 'tar', path: path.join(backups, name, '*.tar*') },
          checks: { files: { min: 1 } },
        },
      ],
    });
    const loaded = parseConfig(text, path.join(base, 'restore-drill.yaml'), {}, base);
    const [config] = loaded.config.drills;
    if (!config) throw new Error('no drill');
    const result = await runDrill({
      drill: config,
      config: loaded.config,
      configDir: loaded.dir,
      db: t.store.db,
      log: silentLogger(),
      trigger: 'manual',
    });
    if (result.status !== 'finished') throw new Error('expected a finished run');
    expect((await getRun(t.store.db, result.record.runId))?.record).toMatchObject({
      verdict: result.record.verdict,
      cause: result.record.cause,
    });
    return result.record;
  }

  /** `tar -czf` of a few small files and then one of `bigBytes` (zeros or random), into `backups/<name>/`. */
  async function archive(
    name: string,
    options: { bigBytes: number; random?: boolean; gzip?: boolean },
  ): Promise<string> {
    const tree = path.join(base, 'trees', name);
    await writeTree(tree, { 'etc/a.conf': 'alpha\n', 'etc/b.conf': 'bravo\n' });
    await writeFile(
      path.join(tree, 'etc/zz-big.bin'),
      options.random ? randomBytes(options.bigBytes) : Buffer.alloc(options.bigBytes),
    );
    const dir = path.join(backups, name);
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, options.gzip === false ? 'set.tar' : 'set.tar.gz');
    await run('tar', [
      options.gzip === false ? '-cf' : '-czf',
      file,
      '-C',
      tree,
      'etc/a.conf',
      'etc/b.conf',
      'etc/zz-big.bin',
    ]);
    return file;
  }

  async function scratchLeft(root: string): Promise<string[]> {
    return readdir(root).catch(() => []);
  }

  it('passes a healthy .tar.gz', async () => {
    await archive('healthy', { bigBytes: 100_000 });
    const record = await drill('healthy', path.join(base, 'scratch'));
    expect(record.verdict).toBe('passed');
    expect(record.restored.files).toBe(3);
  });

  it('fails a truncated .tar.gz, naming the entry, and keeps the entries restored before it', async () => {
    const file = await archive('truncated', { bigBytes: 3_000_000, random: true });
    await truncate(file, Math.floor((await stat(file)).size / 2));
    const record = await drill('truncated', path.join(base, 'scratch'));
    expect(record.verdict).toBe('failed');
    expect(record.cause).toMatch(
      new RegExp(
        `^restore\\.damaged: restore: backup damaged: unexpected end of data at entry etc/zz-big\\.bin \\(byte \\d+\\) in ${file}; restored 2 files before it$`,
      ),
    );
    expect(record.restored).toMatchObject({ files: 2, bytes: 12 });
    expect(record.sample?.items).toEqual(['etc/a.conf', 'etc/b.conf']);
    const [restore, ...others] = record.checks;
    expect(others).toEqual([]);
    expect(restore).toMatchObject({
      name: 'restore',
      verdict: 'failed',
      findings: [
        {
          item: 'etc/zz-big.bin',
          problem: 'damaged',
          actual: expect.stringMatching(/^unexpected end of data at byte \d+$/) as unknown,
        },
      ],
    });
    expect(await scratchLeft(path.join(base, 'scratch'))).toEqual([]);
  });

  it('fails a .tar.gz with a flipped byte as corrupt gzip data', async () => {
    const file = await archive('flipped', { bigBytes: 3_000_000, random: true });
    const bytes = await readFile(file);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = (bytes[middle] as number) ^ 0xff;
    await writeFile(file, bytes);
    const record = await drill('flipped', path.join(base, 'scratch'));
    expect(record.verdict).toBe('failed');
    expect(record.cause).toMatch(
      // Random data is stored, not compressed: only the gzip checksum at the end notices the byte.
      /^restore\.damaged: restore: backup damaged: corrupt gzip data \(incorrect data check\): the data does not match the gzip checksum in .*flipped.*; restored \d+ files? before it$/,
    );
    expect(record.checks[0]?.findings?.[0]?.problem).toBe('damaged');
  });

  it('fails a truncated plain tar at the byte where it ends', async () => {
    const file = await archive('short-plain', { bigBytes: 2_000_000, gzip: false });
    await truncate(file, 1_000_000);
    const record = await drill('short-plain', path.join(base, 'scratch'));
    expect(record.verdict).toBe('failed');
    expect(record.cause).toMatch(
      /^restore\.damaged: restore: backup damaged: unexpected end of data at entry etc\/zz-big\.bin \(byte 1000000\) in /,
    );
  });

  it('errors before restoring when the gzip trailer says the content is larger than the free space', async () => {
    // 20 MB of zeros compresses to a few kB: only the trailer's size tells.
    const file = await archive('too-big', { bigBytes: 20_000_000 });
    expect((await stat(file)).size).toBeLessThan(100_000);
    const root = path.join(small, 'pre');
    const record = await drill('too-big', root);
    expect(record.verdict).toBe('error');
    expect(record.cause).toMatch(
      new RegExp(
        `^scratch\\.full: scratch full: needed at least [\\d.]+ MB, [\\d.]+ [KM]B free on ${root}/too-big-[^ ]+ \\(expected 20(\\.\\d+)? MB × scratch margin 1\\.5`,
      ),
    );
    expect(record.restored).toMatchObject({ files: 0, bytes: 0 });
    expect(await scratchLeft(root)).toEqual([]);
  });

  it('stops a restore that fills scratch and records scratch full, whatever wrote last', async () => {
    // Two gzip members: the trailer gives only the last one's size, so the pre-check passes.
    const tree = path.join(base, 'trees', 'filler');
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 40; i++)
      files[`small/${String(i).padStart(2, '0')}.bin`] = Buffer.alloc(300_000);
    files['large/zz.bin'] = Buffer.alloc(12_000_000);
    await writeTree(tree, files);
    const tarFile = path.join(base, 'filler.tar');
    await run('tar', ['-cf', tarFile, '-C', tree, 'small', 'large']);
    const data = await readFile(tarFile);
    await mkdir(path.join(backups, 'filler'), { recursive: true });
    await writeFile(
      path.join(backups, 'filler', 'set.tar.gz'),
      Buffer.concat([
        gzipSync(data.subarray(0, data.length - 10_240)),
        gzipSync(data.subarray(-10_240)),
      ]),
    );
    const root = path.join(small, 'mid');
    const record = await drill('filler', root);
    expect(record.verdict).toBe('error');
    expect(record.cause).toMatch(
      new RegExp(
        `^scratch\\.full: scratch full: needed at least .+, .+ free on ${root}/filler-[^ ]+ \\(`,
      ),
    );
    expect(await scratchLeft(root)).toEqual([]);
  });
});

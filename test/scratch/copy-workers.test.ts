import { execFile } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type CopyJob,
  CopyWorkers,
  WORKER_MAX_FILE_BYTES,
} from '../../src/scratch/copy-workers.js';
import { run } from '../helpers/artefacts.js';
import { tempDir } from '../helpers/temp.js';

const projectRoot = path.resolve(import.meta.dirname, '../..');

describe('CopyWorkers', () => {
  let workers: CopyWorkers | null = null;
  afterEach(async () => {
    await workers?.close();
    workers = null;
  });

  it('copies files in a worker, hashing as sha256sum does, and hands large ones back', async () => {
    const dir = await tempDir('restore-drill-cw-');
    await writeFile(path.join(dir, 'small.txt'), 'small\n');
    await writeFile(path.join(dir, 'empty'), '');
    await writeFile(path.join(dir, 'large.bin'), Buffer.alloc(WORKER_MAX_FILE_BYTES + 1, 1));
    workers = new CopyWorkers({ threads: 2 });
    const results = await workers.run([
      { kind: 'copy', source: path.join(dir, 'small.txt'), target: path.join(dir, 'small.copy') },
      { kind: 'copy', source: path.join(dir, 'empty'), target: path.join(dir, 'empty.copy') },
      { kind: 'copy', source: path.join(dir, 'large.bin'), target: path.join(dir, 'large.copy') },
      { kind: 'copy', source: path.join(dir, 'missing'), target: path.join(dir, 'missing.copy') },
      {
        kind: 'copy',
        source: path.join(dir, 'small.txt'),
        target: path.join(dir, 'no-such-folder', 'x'),
      },
    ]);
    expect(results).toEqual([
      {
        kind: 'copied',
        size: 6,
        sha256: (await run('sha256sum', ['small.txt'], dir)).slice(0, 64),
      },
      {
        kind: 'copied',
        size: 0,
        sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      },
      { kind: 'large' },
      { kind: 'read-error', code: 'ENOENT', message: expect.stringContaining('ENOENT') },
      { kind: 'write-error', code: 'ENOENT', message: expect.stringContaining('ENOENT') },
    ]);
    expect(await readFile(path.join(dir, 'small.copy'), 'utf8')).toBe('small\n');
  });

  it('starts a worker only when no started one is idle, and never more than its threads', async () => {
    const dir = await tempDir('restore-drill-cw-');
    await writeFile(path.join(dir, 'a'), 'a');
    const batch = (name: string): CopyJob[] => [
      { kind: 'copy', source: path.join(dir, 'a'), target: path.join(dir, name) },
    ];
    workers = new CopyWorkers({ threads: 2 });
    expect(workers.started).toBe(0);
    await workers.run(batch('b1'));
    await workers.run(batch('b2'));
    // One batch at a time: the first worker was idle each time.
    expect(workers.started).toBe(1);
    const results = await Promise.all(
      ['c1', 'c2', 'c3', 'c4'].map((name) => workers!.run(batch(name))),
    );
    expect(workers.started).toBe(2);
    expect(results.flat().map((result) => result.kind)).toEqual(Array(4).fill('copied'));
  });

  it('writes bytes lent to it in one buffer, moving the buffer there and back without a copy', async () => {
    const dir = await tempDir('restore-drill-cw-');
    workers = new CopyWorkers({ threads: 1 });
    const buffer = new ArrayBuffer(16);
    const hello = new Uint8Array(buffer, 0, 5);
    hello.set(Buffer.from('hello'));
    const empty = new Uint8Array(buffer, 5, 0);
    const world = new Uint8Array(buffer, 5, 6);
    world.set(Buffer.from(' world'));
    const writing = workers.write(
      [
        { kind: 'write', target: path.join(dir, 'hello.txt'), mode: 0o600, data: [hello] },
        { kind: 'write', target: path.join(dir, 'empty'), mode: 0o600, data: [empty] },
        { kind: 'write', target: path.join(dir, 'world.txt'), mode: 0o640, data: [world] },
      ],
      buffer,
    );
    // Moved, not copied: gone here while the worker has it.
    expect(buffer.byteLength).toBe(0);
    const written = await writing;
    expect(written.results).toEqual([
      {
        kind: 'copied',
        size: 5,
        sha256: (await run('sha256sum', ['hello.txt'], dir)).slice(0, 64),
      },
      {
        kind: 'copied',
        size: 0,
        sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      },
      {
        kind: 'copied',
        size: 6,
        sha256: (await run('sha256sum', ['world.txt'], dir)).slice(0, 64),
      },
    ]);
    expect(await readFile(path.join(dir, 'world.txt'), 'utf8')).toBe(' world');
    expect((await stat(path.join(dir, 'world.txt'))).mode & 0o777).toBe(0o640);
    // Back whole, for the next batch.
    expect(written.buffer.byteLength).toBe(16);
    expect(Buffer.from(written.buffer, 0, 11).toString()).toBe('hello world');
  });

  it('answers every job as aborted once aborted', async () => {
    const dir = await tempDir('restore-drill-cw-');
    await writeFile(path.join(dir, 'a'), 'a');
    workers = new CopyWorkers({ threads: 1 });
    workers.abort();
    expect(
      await workers.run([
        { kind: 'copy', source: path.join(dir, 'a'), target: path.join(dir, 'b') },
      ]),
    ).toEqual([{ kind: 'aborted' }]);
  });

  it('fails pending batches when its workers are stopped', async () => {
    const dir = await tempDir('restore-drill-cw-');
    await writeFile(path.join(dir, 'a'), 'a');
    workers = new CopyWorkers({ threads: 1 });
    const pending = workers.run(
      Array.from({ length: 500 }, (_, i) => ({
        kind: 'copy' as const,
        source: path.join(dir, 'a'),
        target: path.join(dir, `b${i}`),
      })),
    );
    await workers.close();
    await expect(pending).rejects.toThrow(/copy worker exited/);
  });

  it('starts its workers without the process preloads, which it may no longer be able to read', async () => {
    // The child deletes its preload before it starts the workers: a preload the process
    // cannot read any more (a test runner's, after dropping to another user) kills a worker that inherits it.
    const dir = await tempDir('restore-drill-cw-');
    const preload = path.join(dir, 'preload.cjs');
    await writeFile(preload, '');
    await writeFile(path.join(dir, 'a.txt'), 'a\n');
    const output = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [
          '--require',
          preload,
          path.join(projectRoot, 'test/helpers/run-ts.mjs'),
          path.join(projectRoot, 'test/scratch/fixtures/copy-one.ts'),
          path.join(dir, 'a.txt'),
          path.join(dir, 'b.txt'),
          preload,
        ],
        { cwd: projectRoot, env: { ...process.env, NODE_OPTIONS: '' } },
        (error, stdout, stderr) =>
          error ? reject(new Error(`${error.message}\n${stdout}${stderr}`)) : resolve(stdout),
      );
    });
    expect(JSON.parse(output)).toMatchObject({ kind: 'copied', size: 2 });
    expect(await readFile(path.join(dir, 'b.txt'), 'utf8')).toBe('a\n');
  });
});

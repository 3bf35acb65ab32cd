import { mkdir, mkdtemp, open, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileNameOf } from '../../src/model/file-name.js';
import { expect } from 'vitest';
import type { CheckContext } from '../../src/checks/check.js';
import { runCommand } from '../../src/exec/run-command.js';
import { hashFile } from '../../src/manifest/hash-file.js';
import type { RestoreOutcome } from '../../src/sources/restore-source.js';
import type { BackupSet, RestoredFile } from '../../src/model/restore.js';

/** A backup set folder and an empty scratch folder under one temp folder. */
export interface Bench {
  root: string;
  /** The backup set: a folder of real files. */
  setDir: string;
  scratch: string;
  set: BackupSet;
  cleanup(): Promise<void>;
}

export async function makeBench(files: Record<string, string | Buffer>): Promise<Bench> {
  const root = await mkdtemp(join(tmpdir(), 'restore-drill-checks-'));
  const setDir = join(root, 'set-2026-01-01');
  const scratch = join(root, 'scratch');
  await mkdir(scratch);
  await writeFiles(setDir, files);
  return {
    root,
    setDir,
    scratch,
    set: {
      id: 'set-2026-01-01',
      path: setDir,
      size: null,
      mtime: new Date('2026-01-01T00:00:00Z'),
      hash: null,
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

export async function writeFiles(
  dir: string,
  files: Record<string, string | Buffer>,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
}

/** Runs the real sha256sum over `names` in `dir` and returns its output. */
export async function sha256sumOutput(
  dir: string,
  names: string[],
  args: string[] = [],
): Promise<string> {
  const result = await runCommand('sha256sum', [...args, '--', ...names], {
    cwd: dir,
    keepStdout: true,
  });
  expect(result.exitCode).toBe(0);
  return `${result.stdout}\n`;
}

/** "Restores" a set by copying it with cp -a, the way a directory source lands files in scratch. */
export async function copyInto(from: string, to: string): Promise<void> {
  const result = await runCommand('cp', ['-a', `${from}/.`, to]);
  expect(result.exitCode).toBe(0);
}

/** What a source would report for scratch as it is now: every file with size and SHA-256, `/` paths. */
export async function scanScratch(scratch: string, prefix = ''): Promise<RestoredFile[]> {
  const files: RestoredFile[] = [];
  for (const entry of await readdir(join(scratch, prefix), { withFileTypes: true })) {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) files.push(...(await scanScratch(scratch, path)));
    else if (entry.isFile()) {
      const digest = await hashFile(join(scratch, path));
      // Recorded in the escaped form, as every source records names.
      files.push({ path: fileNameOf(path), size: digest.size, sha256: digest.digests.sha256! });
    }
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** A CheckContext over a bench, with an outcome scanned from scratch unless given. */
export async function contextFor(
  bench: Bench,
  overrides: Omit<Partial<CheckContext>, 'outcome'> & { outcome?: Partial<RestoreOutcome> } = {},
): Promise<CheckContext> {
  const { outcome, ...rest } = overrides;
  const files = outcome?.files ?? (await scanScratch(bench.scratch));
  return {
    set: bench.set,
    scratchDir: bench.scratch,
    outcome: { refused: [], ...outcome, files },
    sampled: false,
    sample: null,
    manifestsInSet: new Set(),
    startedAt: new Date('2026-01-01T12:00:00Z'),
    elapsedMs: () => 1_000,
    ...rest,
  };
}

/** Flips one bit of one byte (at `offset`, else in the middle of the file), keeping its size. */
export async function flipByte(file: string, offset?: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const { size } = await handle.stat();
    const at = offset ?? Math.floor(size / 2);
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0x01;
    await handle.write(byte, 0, 1, at);
  } finally {
    await handle.close();
  }
}

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { watch } from 'node:fs';
import { copyFile, mkdir, rename, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import { SourceError, type BackupSet } from '../../src/model/restore.js';
import { BackupDamagedError, type RestoreSource } from '../../src/sources/restore-source.js';
import { tarSourceKind } from '../../src/sources/tar-source.js';
import { run, sha256sumTree, writeTree } from '../helpers/artefacts.js';
import { tempDir } from '../helpers/temp.js';

const log = silentLogger();
/** Larger than a bzip2 block and many zstd blocks, so a cut in the middle is inside big.bin. */
const BIG_BYTES = 1536 * 1024;

/** Each compression, the tool that makes it (as users make them), and what the tool says of damage. */
const KINDS = [
  {
    compression: 'xz',
    extension: '.tar.xz',
    compress: ['xz', '-k', '-f'],
    suffix: '.xz',
    truncated: 'xz: Unexpected end of input',
  },
  {
    compression: 'bzip2',
    extension: '.tar.bz2',
    compress: ['bzip2', '-1', '-k', '-f'],
    suffix: '.bz2',
    truncated: 'bzip2: Compressed file ends unexpectedly',
  },
  {
    compression: 'zstd',
    extension: '.tar.zst',
    compress: ['zstd', '-q', '-f'],
    suffix: '.zst',
    truncated: 'zstd: Read error (39) : premature end',
  },
] as const;

function tarSource(pattern: string, configDir: string): RestoreSource {
  return tarSourceKind.create(tarSourceKind.configSchema.parse({ kind: 'tar', path: pattern }), {
    configDir,
    log,
  });
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('tar source over xz, bzip2 and zstd archives', () => {
  let root: string;
  let tree: string;
  let treeSums: Map<string, string>;
  /** The tree as a plain tar, and compressed with each tool. */
  const archives = new Map<string, string>();

  beforeAll(async () => {
    root = await tempDir('restore-drill-tar-compressed-');
    tree = path.join(root, 'tree');
    // Random bytes do not compress: the archive's middle is inside big.bin's data.
    const random = randomBytes(BIG_BYTES);
    await writeTree(tree, { 'a.txt': 'alpha\n', 'big.bin': random, 'sub/b.txt': 'bravo\n' });
    treeSums = await sha256sumTree(tree);
    const plain = path.join(root, 'tree.tar');
    await run('tar', ['-cf', plain, '-C', tree, 'a.txt', 'big.bin', 'sub']);
    for (const kind of KINDS) {
      const [tool, ...args] = kind.compress;
      const archive = path.join(root, `tree${kind.extension}`);
      await run(tool, [...args, plain]);
      await rename(`${plain}${kind.suffix}`, archive);
      archives.set(kind.compression, archive);
    }
  });

  let counter = 0;
  /** A folder holding a copy of `from` named `name`, and the tar source over `*` in it. */
  async function place(
    name: string,
    from: string,
  ): Promise<{ archive: string; source: RestoreSource }> {
    const dir = path.join(root, `case-${++counter}`);
    await mkdir(dir, { recursive: true });
    const archive = path.join(dir, name);
    await copyFile(from, archive);
    return { archive, source: tarSource(path.join(dir, '*'), root) };
  }

  async function onlySet(source: RestoreSource): Promise<BackupSet> {
    const sets = await source.listSets({});
    expect(sets).toHaveLength(1);
    return sets[0] as BackupSet;
  }

  it('lists archives by every usual name of the compressed kinds', async () => {
    const dir = path.join(root, 'names');
    await mkdir(dir);
    const names = [
      'a.tar.xz',
      'b.txz',
      'c.tar.bz2',
      'd.tbz2',
      'e.tbz',
      'f.tar.zst',
      'g.tzst',
      'h.tar.lz4',
      'i.tar.xz.sha256',
    ];
    for (const name of names) await writeFile(path.join(dir, name), 'x');
    const sets = await tarSource(path.join(dir, '*'), root).listSets({});
    expect(sets.map((set) => path.basename(set.path))).toEqual(names.slice(0, 7));
  });

  for (const kind of KINDS) {
    describe(kind.compression, () => {
      it(`restores a healthy ${kind.extension} with the right hashes`, async () => {
        const { source } = await place(`set${kind.extension}`, archives.get(kind.compression)!);
        const set = await onlySet(source);
        expect(await source.listItems(set, {})).toEqual([
          { path: 'a.txt', size: 6 },
          { path: 'big.bin', size: BIG_BYTES },
          { path: 'sub/b.txt', size: 6 },
        ]);
        const scratch = await tempDir('restore-drill-scratch-');
        const outcome = await source.restore(set, scratch, { items: null, log });
        expect(outcome.refused).toEqual([]);
        expect(new Map(outcome.files.map((file) => [file.path, file.sha256]))).toEqual(treeSums);
        expect(await sha256sumTree(scratch)).toEqual(treeSums);
      });

      it(`tells ${kind.compression} by its bytes, not the name: ${kind.compression} data in a .tar`, async () => {
        const { source } = await place('set.tar', archives.get(kind.compression)!);
        const scratch = await tempDir('restore-drill-scratch-');
        await source.restore(await onlySet(source), scratch, { items: null, log });
        expect(await sha256sumTree(scratch)).toEqual(treeSums);
      });

      it(`fails on a truncated ${kind.extension}, naming it, the tool's complaint and the member being read`, async () => {
        const { archive, source } = await place(
          `short${kind.extension}`,
          archives.get(kind.compression)!,
        );
        await truncate(archive, Math.floor((await stat(archive)).size / 2));
        const scratch = await tempDir('restore-drill-scratch-');
        const restore = source.restore(await onlySet(source), scratch, { items: null, log });
        await expect(restore).rejects.toThrow(BackupDamagedError);
        const error = (await restore.catch((caught: unknown) => caught)) as BackupDamagedError;
        expect(error.message).toBe(
          `unreadable archive ${archive}: corrupt ${kind.compression} data (${kind.truncated}) at entry big.bin`,
        );
        // What was restored before the damage is kept as evidence.
        expect(error.partial.files.map((file) => file.path)).toEqual(['a.txt']);
      });

      it(`fails on a ${kind.extension} with a flipped byte, naming it and the tool's complaint`, async () => {
        const { archive, source } = await place(
          `flipped${kind.extension}`,
          archives.get(kind.compression)!,
        );
        const bytes = await readFile(archive);
        const middle = Math.floor(bytes.length / 2);
        bytes[middle] = (bytes[middle] as number) ^ 0x55;
        await writeFile(archive, bytes);
        const restore = source.restore(
          await onlySet(source),
          await tempDir('restore-drill-scratch-'),
          { items: null, log },
        );
        await expect(restore).rejects.toThrow(BackupDamagedError);
        await expect(restore).rejects.toThrow(
          new RegExp(
            `^unreadable archive ${escape(archive)}: corrupt ${kind.compression} data \\(${kind.compression}: .+\\) (at|after) entry \\S+$`,
          ),
        );
      });
    });
  }

  it('restores .txz, .tbz2 and .tzst archives', async () => {
    for (const [name, compression] of [
      ['set.txz', 'xz'],
      ['set.tbz2', 'bzip2'],
      ['set.tzst', 'zstd'],
    ] as const) {
      const { source } = await place(name, archives.get(compression)!);
      const scratch = await tempDir('restore-drill-scratch-');
      await source.restore(await onlySet(source), scratch, { items: null, log });
      expect(await sha256sumTree(scratch)).toEqual(treeSums);
    }
  });

  it('is an error naming the tool and its package when the decompressor is not installed', async () => {
    const { archive, source } = await place('set.tar.xz', archives.get('xz')!);
    const set = await onlySet(source);
    const empty = await tempDir('restore-drill-path-');
    const saved = process.env.PATH;
    process.env.PATH = empty;
    try {
      const restore = source.restore(set, await tempDir('restore-drill-scratch-'), {
        items: null,
        log,
      });
      await expect(restore).rejects.toThrow(SourceError);
      await expect(restore).rejects.toThrow(
        new RegExp(
          `^cannot read backup set ${escape(archive)}: it is xz-compressed and xz cannot be run \\(.*ENOENT.*\\); install xz-utils$`,
        ),
      );
    } finally {
      process.env.PATH = saved;
    }
  });

  it('stops the decompressor when the restore is aborted, leaving no process behind', async () => {
    // 128 MiB of zeros: a small archive that takes a while to restore.
    const big = path.join(root, 'zeros');
    await mkdir(big);
    await writeFile(path.join(big, 'a.txt'), 'alpha\n');
    await truncate(await touch(path.join(big, 'zeros.bin')), 128 * 1024 * 1024);
    const plain = path.join(root, 'zeros.tar');
    await run('tar', ['-cf', plain, '-C', big, 'a.txt', 'zeros.bin']);
    const zstd = path.join(root, 'zeros.tar.zst');
    await run('zstd', ['-q', '-1', plain, '-o', zstd]);
    const { source } = await place('set.tar.zst', zstd);
    const set = await onlySet(source);
    const controller = new AbortController();
    const scratch = await tempDir('restore-drill-scratch-');
    // Abort once the large member is being written: zstd is running, its output part read.
    const watcher = watch(scratch, (_event, name) => {
      if (name === 'zeros.bin') controller.abort(new Error('drill timed out'));
    });
    try {
      const restore = source.restore(set, scratch, {
        items: null,
        log,
        signal: controller.signal,
      });
      await expect(restore).rejects.toThrow('drill timed out');
    } finally {
      watcher.close();
    }
    const children = spawnSync('ps', ['-o', 'pid=,stat=,comm=', '--ppid', String(process.pid)])
      .stdout.toString()
      .split('\n')
      .filter((line) => line.includes('zstd'));
    expect(children).toEqual([]);
  });
});

async function touch(file: string): Promise<string> {
  await writeFile(file, '');
  return file;
}

import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCommand, type CommandResult } from '../../src/exec/run-command.js';

/** The password of every repository the tests create (never a real secret). */
export const TEST_RESTIC_PASSWORD = 'drill-test-password';

/** A file to generate: text, bytes, or a symlink target. */
export type TreeSpec = Record<string, string | Buffer | { symlink: string }>;

/** A real restic repository in a temp folder, driven by the real restic binary. */
export interface ResticRepo {
  /** The temp folder holding everything (repository, cache, data). */
  dir: string;
  repository: string;
  cacheDir: string;
  /** Runs restic against this repository; throws with its stderr when it fails. */
  restic(args: readonly string[], options?: { cwd?: string }): Promise<CommandResult>;
  /** Backs up `paths` (as given: absolute, relative to `cwd`, or `.`) and returns the short snapshot id restic printed. */
  backup(
    paths: readonly string[],
    options?: { cwd?: string; tags?: string[]; host?: string; time?: string },
  ): Promise<string>;
  /** Full snapshot ids by short id (each restic command costs a key derivation: list once, not per backup). */
  fullIds(): Promise<Map<string, string>>;
  cleanup(): Promise<void>;
}

export const resticEnv = (repository: string, cacheDir: string): Record<string, string> => ({
  RESTIC_REPOSITORY: repository,
  RESTIC_PASSWORD: TEST_RESTIC_PASSWORD,
  RESTIC_CACHE_DIR: cacheDir,
});

/** Creates a temp folder with an initialised repository. */
export async function createResticRepo(prefix = 'restore-drill-restic-'): Promise<ResticRepo> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  const repository = path.join(dir, 'repo');
  const cacheDir = path.join(dir, 'cache');
  const restic = async (
    args: readonly string[],
    options: { cwd?: string } = {},
  ): Promise<CommandResult> => {
    const result = await runCommand('restic', args, {
      env: resticEnv(repository, cacheDir),
      cwd: options.cwd,
      keepStdout: true,
      input: '',
      timeoutMs: 60_000,
    });
    if (result.exitCode !== 0)
      throw new Error(`restic ${args.join(' ')} failed: ${result.stderrTail}`);
    return result;
  };
  await restic(['init']);
  return {
    dir,
    repository,
    cacheDir,
    restic,
    async backup(paths, options = {}) {
      const args = ['backup', '--json', ...paths];
      for (const tag of options.tags ?? []) args.push('--tag', tag);
      if (options.host) args.push('--host', options.host);
      if (options.time) args.push('--time', options.time);
      const result = await restic(args, { cwd: options.cwd });
      const summary = result.stdout
        .split('\n')
        .map((line) =>
          line.startsWith('{')
            ? (JSON.parse(line) as { message_type?: string; snapshot_id?: string })
            : {},
        )
        .find((message) => message.message_type === 'summary');
      if (!summary?.snapshot_id)
        throw new Error(`restic backup printed no snapshot id: ${result.stdoutTail}`);
      // 0.14 prints the short id, newer releases the full one.
      return summary.snapshot_id.slice(0, 8);
    },
    async fullIds() {
      const list = JSON.parse((await restic(['snapshots', '--json'])).stdout) as { id: string }[];
      return new Map(list.map((snapshot) => [snapshot.id.slice(0, 8), snapshot.id]));
    },
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Writes a tree of files; returns the SHA-256 of each regular file by its relative path. */
export async function writeTree(root: string, spec: TreeSpec): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  await mkdir(root, { recursive: true });
  for (const [rel, content] of Object.entries(spec)) {
    const file = path.join(root, rel);
    await mkdir(path.dirname(file), { recursive: true });
    if (typeof content === 'object' && !Buffer.isBuffer(content)) {
      await symlink(content.symlink, file);
      continue;
    }
    await writeFile(file, content);
    hashes.set(rel, createHash('sha256').update(content).digest('hex'));
  }
  return hashes;
}

/** SHA-256 of a file on disk. */
export async function sha256Of(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

/** Deterministic pseudo-random bytes (restic's chunker splits them into several blobs past 512 KiB). */
export function pseudoRandomBytes(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = state & 0xff;
  }
  return out;
}

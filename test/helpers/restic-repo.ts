import { createHash, randomBytes } from 'node:crypto';
import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { runCommand, type CommandResult } from '../../src/exec/run-command.js';
import type { Logger } from '../../src/log/logger.js';
import { resticSourceConfigSchema } from '../../src/sources/restic-source-config.js';
import { resticSourceKind } from '../../src/sources/restic-source.js';
import type { RestoreSource } from '../../src/sources/restore-source.js';
import {
  LOW_SECURITY_KDF,
  newMasterKey,
  open,
  openKeyFile,
  seal,
  sealKeyFile,
  type ResticKeyFile,
} from './restic-crypto.js';
import { copyTreeSync } from './artefacts.js';
import { buildOncePerRun } from './run-once.js';

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
  /** Full snapshot ids by short id (each restic command is a process: list once, not per backup). */
  fullIds(): Promise<Map<string, string>>;
  cleanup(): Promise<void>;
}

/** The restic source over `repository` (a test repository or a damaged copy) with its own cache. */
export function resticSourceOver(
  repository: string,
  cacheDir: string,
  context: { configDir: string; log: Logger },
): RestoreSource {
  return resticSourceKind.create(
    resticSourceConfigSchema.parse({
      kind: 'restic',
      repository,
      password: TEST_RESTIC_PASSWORD,
      cacheDir,
    }),
    context,
  );
}

export const resticEnv = (repository: string, cacheDir: string): Record<string, string> => ({
  RESTIC_REPOSITORY: repository,
  RESTIC_PASSWORD: TEST_RESTIC_PASSWORD,
  RESTIC_CACHE_DIR: cacheDir,
});

/** What every test repository copies from the one `restic init` of the run. */
interface ResticTemplate {
  /** The initialised repository without its key file and config (each copy writes its own). */
  repository: string;
  /** The decrypted config: repository version and chunker polynomial. */
  config: Record<string, unknown>;
  username: string;
  hostname: string;
  /** The permission bits restic gave its config and key files (its local backend reads them back). */
  fileMode: number;
}

let template: Promise<ResticTemplate> | undefined;

/**
 * One real `restic init` per vitest run (under global setup's run folder), opened
 * with the password: every restic command against its calibrated key costs a
 * full scrypt (0.5 s of CPU here), so the copies get a cheap key instead.
 */
function resticTemplate(): Promise<ResticTemplate> {
  template ??= (async () => {
    const root = inject('resticTemplateRoot');
    const repository = path.join(root, 'repo');
    const descriptionFile = path.join(root, 'template.json');
    await buildOncePerRun(root, 'restic template repository', async () => {
      const init = await runCommand('restic', ['init'], {
        env: resticEnv(repository, path.join(root, 'cache')),
        input: '',
        timeoutMs: 60_000,
      });
      if (init.exitCode !== 0) throw new Error(`restic init failed: ${init.stderrTail}`);
      const keys = await readdir(path.join(repository, 'keys'));
      if (keys.length !== 1)
        throw new Error(`restic init wrote ${keys.length} key files, expected one`);
      const keyPath = path.join(repository, 'keys', keys[0]!);
      const keyFile = JSON.parse(await readFile(keyPath, 'utf8')) as ResticKeyFile;
      const master = openKeyFile(keyFile, TEST_RESTIC_PASSWORD);
      const configPath = path.join(repository, 'config');
      const config = JSON.parse(
        open(master, await readFile(configPath)).toString('utf8'),
      ) as Record<string, unknown>;
      const { mode } = await stat(configPath);
      await rm(keyPath);
      await rm(configPath);
      await rm(path.join(root, 'cache'), { recursive: true, force: true });
      const description: Omit<ResticTemplate, 'repository'> = {
        config,
        username: keyFile.username,
        hostname: keyFile.hostname,
        fileMode: mode & 0o777,
      };
      await writeFile(descriptionFile, JSON.stringify(description));
    });
    return {
      repository,
      ...(JSON.parse(await readFile(descriptionFile, 'utf8')) as Omit<
        ResticTemplate,
        'repository'
      >),
    };
  })();
  return template;
}

/**
 * A new repository in `repository`: the template's folders, a fresh master key under a
 * low-security key file, and the template's config with a fresh id (restic keys its
 * cache by id, so two test repositories never share one).
 */
async function copyResticTemplate(repository: string): Promise<void> {
  const { repository: source, config, username, hostname, fileMode } = await resticTemplate();
  copyTreeSync(source, repository);
  const master = newMasterKey();
  const key = sealKeyFile(master, TEST_RESTIC_PASSWORD, LOW_SECURITY_KDF, { username, hostname });
  const fresh = { ...config, id: randomBytes(32).toString('hex') };
  const files: [string, Buffer][] = [
    [path.join(repository, 'keys', key.name), key.bytes],
    [path.join(repository, 'config'), seal(master, Buffer.from(JSON.stringify(fresh)))],
  ];
  for (const [file, bytes] of files) {
    await writeFile(file, bytes);
    await chmod(file, fileMode);
  }
}

/**
 * Creates a temp folder with a ready repository: a copy of the run's `restic init`
 * with its own master key, a cheap key derivation and its own id.
 */
export async function createResticRepo(prefix = 'restore-drill-restic-'): Promise<ResticRepo> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  const repository = path.join(dir, 'repo');
  const cacheDir = path.join(dir, 'cache');
  await copyResticTemplate(repository);
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

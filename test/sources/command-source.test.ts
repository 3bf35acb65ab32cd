import { randomBytes } from 'node:crypto';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import { CommandSource, parseListOutput, substitute } from '../../src/sources/command-source.js';
import { commandSourceConfigSchema } from '../../src/sources/command-source-config.js';
import { BackupDamagedError } from '../../src/sources/restore-source.js';
import { SourceError, type BackupSet } from '../../src/model/restore.js';
import { run, sha256sumTree, writeTree } from '../helpers/artefacts.js';
import { tempDir } from '../helpers/temp.js';

const HANG = fileURLToPath(new URL('../fixtures/bin/hang-with-children', import.meta.url));
const log = silentLogger();
let root: string;

function source(config: Record<string, unknown>): CommandSource {
  return new CommandSource(commandSourceConfigSchema.parse({ kind: 'command', ...config }), {
    configDir: root,
    log,
  });
}

async function scratch(): Promise<string> {
  const dir = path.join(root, 'scratch', randomBytes(4).toString('hex'));
  await mkdir(dir, { recursive: true });
  return dir;
}

const files = {
  'a.txt': 'alpha\n',
  'sub/b.bin': Buffer.from(Array.from({ length: 3_000_000 }, (_, i) => i % 253)),
  'sub/deeper/c.txt': '',
};

beforeAll(async () => {
  root = await tempDir('restore-drill-command-');
  const tree = path.join(root, 'tree');
  await writeTree(tree, files);
  await mkdir(path.join(root, 'sets'));
  await run('tar', ['-czf', path.join(root, 'sets', 'set-2026-01-01.tar.gz'), '-C', tree, '.']);
  await run('tar', ['-czf', path.join(root, 'sets', 'set-2026-01-02.tar.gz'), '-C', tree, '.']);
});

/** Is the process gone (or a zombie nobody reaped yet)? */
async function gone(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

describe('command source', () => {
  it('restores with the real tar through argv placeholders and hashes what it left in scratch', async () => {
    const src = source({
      sets: { path: 'sets/*.tar.gz' },
      restore: ['tar', '-xzf', '{set}', '-C', '{scratch}'],
    });
    const sets = await src.listSets({});
    expect(sets.map((set) => path.basename(set.path))).toEqual([
      'set-2026-01-01.tar.gz',
      'set-2026-01-02.tar.gz',
    ]);
    const dir = await scratch();
    const outcome = await src.restore(sets[1]!, dir, { items: null, log });
    const sums = await sha256sumTree(path.join(root, 'tree'));
    expect(outcome.files).toEqual(
      [...sums.entries()]
        .map(([file, sha256]) => ({
          path: file,
          size: file === 'a.txt' ? 6 : file === 'sub/b.bin' ? 3_000_000 : 0,
          sha256,
        }))
        .sort((a, b) => (a.path < b.path ? -1 : 1)),
    );
    expect(outcome.refused).toEqual([]);
    expect(outcome.commands).toHaveLength(1);
    expect(outcome.commands?.[0]).toMatchObject({
      exitCode: 0,
      timedOut: false,
      command: `tar -xzf ${sets[1]!.path} -C ${dir}`,
    });
  });

  it('keeps a placeholder with spaces and shell characters as one argument, never a shell string', async () => {
    expect(substitute('::{set}', { scratch: '/s', set: 'a b; rm -rf /' })).toBe('::a b; rm -rf /');
    const weird = path.join(root, 'we ird; $(touch pwned)');
    await mkdir(weird, { recursive: true });
    await run('tar', ['-czf', path.join(weird, 'set.tar.gz'), '-C', path.join(root, 'tree'), '.']);
    const src = source({
      sets: { path: `${weird.replace(/[()$;]/g, '\\$&')}/*.tar.gz` },
      restore: ['tar', '-xzf', '{set}'],
    });
    const [set] = await src.listSets({});
    const outcome = await src.restore(set!, await scratch(), { items: null, log });
    expect(outcome.refused).toEqual([]);
    expect(outcome.files.map((file) => file.path)).toEqual([
      'a.txt',
      'sub/b.bin',
      'sub/deeper/c.txt',
    ]);
  });

  it('records a non-zero exit with the tail of its output as damage, naming the command', async () => {
    const src = source({
      sets: { path: 'sets/*.tar.gz' },
      restore: ['tar', '-xzf', '{set}.missing'],
    });
    const [set] = await src.listSets({});
    const error = await src
      .restore(set!, await scratch(), { items: null, log })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackupDamagedError);
    const { partial, damage } = error as BackupDamagedError;
    expect(partial.commands?.[0]?.exitCode).toBe(2);
    expect(partial.commands?.[0]?.stderrTail).toMatch(/Cannot open: No such file or directory/);
    expect(damage).toEqual({
      detail: expect.stringMatching(
        /^restore command tar exit code 2: tar: Error is not recoverable/,
      ) as unknown,
      entry: null,
      offset: null,
    });
  });

  it('fails a restore command that crashes (SIGABRT), and does not judge one killed from outside (SIGKILL, SIGTERM)', async () => {
    const ended = async (signal: string) => {
      const src = source({
        sets: { path: 'sets/*.tar.gz' },
        restore: ['sh', '-c', `echo partial > part.txt; kill -${signal} $$`],
      });
      const [set] = await src.listSets({});
      return src.restore(set!, await scratch(), { items: null, log }).catch((e: unknown) => e);
    };
    const crashed = await ended('ABRT');
    expect(crashed).toBeInstanceOf(BackupDamagedError);
    expect((crashed as BackupDamagedError).damage.detail).toBe(
      'restore command sh crashed: killed by SIGABRT',
    );
    expect((crashed as BackupDamagedError).partial.files.map((file) => file.path)).toEqual([
      'part.txt',
    ]);
    for (const signal of ['KILL', 'TERM']) {
      const killed = await ended(signal);
      expect(killed, signal).toBeInstanceOf(SourceError);
      expect((killed as SourceError).message).toMatch(
        new RegExp(
          `^restore command sh was killed by SIG${signal}, not by restore-drill \\(out of memory, or an operator\\?\\): it did not finish, so .*\\.tar\\.gz was not judged$`,
        ),
      );
      expect((killed as SourceError).commands.map((command) => command.signal)).toEqual([
        `SIG${signal}`,
      ]);
    }
  });

  it('is an unreachable-source error when the exit code is one of unreachableExitCodes', async () => {
    const src = source({
      list: ['echo', 'only-set'],
      restore: ['sh', '-c', 'echo "server down" >&2; exit 75'],
      unreachableExitCodes: [75],
    });
    const [set] = await src.listSets({});
    const error = await src
      .restore(set!, await scratch(), { items: null, log })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect(error).toMatchObject({
      causeCode: 'source.unreachable',
      message: 'restore command sh could not reach only-set: exit code 75: server down',
    });
  });

  it('refuses an unreachable exit code outside 1-255, naming the field', () => {
    expect(() =>
      commandSourceConfigSchema.parse({
        kind: 'command',
        list: ['echo', 'x'],
        restore: ['true'],
        unreachableExitCodes: [0],
      }),
    ).toThrow(/unreachableExitCodes/);
  });

  it('kills a hanging command and its children at the timeout', async () => {
    const pids = path.join(root, 'pids');
    const src = source({ list: ['echo', 'only-set'], restore: [HANG, pids], timeout: '1s' });
    const [set] = await src.listSets({});
    const started = Date.now();
    const outcome = await src.restore(set!, await scratch(), { items: null, log });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(outcome.commands?.[0]).toMatchObject({ timedOut: true, stdoutTail: 'started' });
    expect(outcome.refused[0]).toEqual({
      entry: 'restore command hang-with-children',
      reason: expect.stringMatching(/^timed out after \d+ ms$/),
    });
    const children = (await readFile(pids, 'utf8')).trim().split('\n').map(Number);
    expect(children).toHaveLength(2);
    await sleep(200);
    for (const pid of children) expect(await gone(pid)).toBe(true);
  });

  it('keeps the symlinks the command left as links, wherever they point, and never reads them', async () => {
    const src = source({
      list: ['echo', 'x'],
      restore: [
        'sh',
        '-c',
        'echo inside > in.txt && ln -s /etc/passwd out && ln -s in.txt fine && ln -s ../../../../etc far && mkfifo pipe',
      ],
    });
    const [set] = await src.listSets({});
    const outcome = await src.restore(set!, await scratch(), { items: null, log });
    expect(outcome.files.map((file) => file.path)).toEqual(['in.txt']);
    expect(outcome.links).toEqual([
      { path: 'far', target: '../../../../etc' },
      { path: 'fine', target: 'in.txt' },
      { path: 'out', target: '/etc/passwd' },
    ]);
    expect(outcome.refused).toEqual([{ entry: 'pipe', reason: 'special file: FIFO' }]);
  });

  it('passes env to the commands, without a shell', async () => {
    const src = source({
      list: ['echo', 'x'],
      restore: ['sh', '-c', 'printf %s "$SECRET_THING" > env.txt'],
      env: { SECRET_THING: 'value-1' },
    });
    const [set] = await src.listSets({});
    const dir = await scratch();
    await src.restore(set!, dir, { items: null, log });
    expect(await readFile(path.join(dir, 'env.txt'), 'utf8')).toBe('value-1');
  });

  it('lists sets from a command: one id per line, or JSON with times and sizes', async () => {
    const lines = await source({ list: ['printf', 'a\\n\\nb\\n'], restore: ['true'] }).listSets({});
    expect(lines.map((set) => set.id)).toEqual(['a', 'b']);
    const json = parseListOutput(
      '[{"id":"2026-01-01","time":"2026-01-01T03:00:00Z","size":12},"plain-id"]',
      'list',
    );
    expect(json).toEqual([
      {
        id: '2026-01-01',
        path: '2026-01-01',
        size: 12,
        mtime: new Date('2026-01-01T03:00:00Z'),
        hash: null,
      },
      { id: 'plain-id', path: 'plain-id', size: null, mtime: null, hash: null },
    ]);
    expect(() => parseListOutput('[{"name":"x"}]', 'borg list')).toThrow(
      'list command borg list printed an unexpected entry at [0]: expected an id or { id, time?, size? }',
    );
    expect(() => parseListOutput('[1,', 'borg list')).toThrow(/printed invalid JSON/);
  });

  it('fails listing when the list command fails, naming it and its exit', async () => {
    const src = source({
      list: ['sh', '-c', 'echo "repository locked" >&2; exit 11'],
      restore: ['true'],
    });
    await expect(src.listSets({})).rejects.toThrow(SourceError);
    await expect(src.listSets({})).rejects.toThrow(
      'list command sh -c \'echo "repository locked" >&2; exit 11\' failed: exit code 11: repository locked',
    );
  });

  it('says when the restore command cannot be started', async () => {
    const src = source({ list: ['echo', 'x'], restore: ['/no/such/restore-tool', '{set}'] });
    const set: BackupSet = { id: 'x', path: 'x', size: null, mtime: null, hash: null };
    await expect(src.restore(set, await scratch(), { items: null, log })).rejects.toThrow(
      /^cannot run restore command \/no\/such\/restore-tool: .*ENOENT/,
    );
  });

  it('refuses to sample, and needs exactly one of sets and list', async () => {
    const src = source({ list: ['echo', 'x'], restore: ['true'] });
    const set: BackupSet = { id: 'x', path: 'x', size: null, mtime: null, hash: null };
    await expect(src.listItems(set)).rejects.toThrow(
      'the command source restores whole sets; x cannot be sampled (remove sample from the drill)',
    );
    const neither = commandSourceConfigSchema.safeParse({ kind: 'command', restore: ['true'] });
    expect(neither.error?.issues[0]).toMatchObject({
      path: ['sets'],
      message: 'expected exactly one of sets: { path: <glob> } or list: [command...]',
    });
    expect(
      commandSourceConfigSchema.safeParse({ kind: 'command', restore: [], list: ['x'] }).success,
    ).toBe(false);
  });

  it('resolves a relative binary from the config folder', async () => {
    await writeFile(path.join(root, 'restore.sh'), '#!/bin/sh\necho restored > "$1/marker"\n', {
      mode: 0o755,
    });
    const src = source({ list: ['echo', 'x'], restore: ['./restore.sh', '{scratch}'] });
    const [set] = await src.listSets({});
    const outcome = await src.restore(set!, await scratch(), { items: null, log });
    expect(outcome.files.map((file) => file.path)).toEqual(['marker']);
  });
});

describe('command source with a symlinked scratch path', () => {
  it('walks the real scratch folder behind the path', async () => {
    const real = await scratch();
    const alias = path.join(root, 'alias');
    await symlink(real, alias);
    const src = source({ list: ['echo', 'x'], restore: ['sh', '-c', 'echo x > f && ln -s f g'] });
    const [set] = await src.listSets({});
    const outcome = await src.restore(set!, alias, { items: null, log });
    expect(outcome.refused).toEqual([]);
    expect(outcome.files.map((file) => file.path)).toEqual(['f']);
    expect(outcome.links).toEqual([{ path: 'g', target: 'f' }]);
  });
});

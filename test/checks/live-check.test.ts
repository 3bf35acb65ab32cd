import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { liveCheckConfigSchema, LiveCheck } from '../../src/checks/live-check.js';
import { contextFor, copyInto, makeBench, writeFiles, type Bench } from './fixture.js';

/** Everything a write to the live side would change: content, size, mode, mtime and ctime (atime left out). */
async function snapshot(root: string, prefix = ''): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const entry of await readdir(join(root, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    const stats = await lstat(join(root, rel), { bigint: true });
    const base = { mode: stats.mode, mtime: stats.mtimeNs, ctime: stats.ctimeNs, size: stats.size };
    if (entry.isDirectory()) Object.assign(out, { [rel]: base }, await snapshot(root, rel));
    else if (entry.isFile())
      out[rel] = {
        ...base,
        sha256: createHash('sha256')
          .update(await readFile(join(root, rel)))
          .digest('hex'),
      };
    else out[rel] = base;
  }
  return out;
}

/** Makes every file and folder of the live tree read-only (a-w), leaves included. */
async function readOnly(root: string): Promise<void> {
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true }))
    if (!entry.isSymbolicLink())
      await chmod(join(entry.parentPath, entry.name), entry.isDirectory() ? 0o555 : 0o444);
  await chmod(root, 0o555);
}

const SET = {
  'a.txt': 'alpha\n',
  'b.txt': 'bravo\n',
  'c.txt': 'charlie\n',
  'docs/d.txt': 'delta\n',
  'docs/e.txt': 'echo\n',
  'docs/f.txt': 'foxtrot\n',
  'g.txt': 'golf\n',
  'h.txt': 'hotel\n',
  'i.txt': 'india\n',
  'j.txt': 'juliett\n',
};

describe('live check', () => {
  let bench: Bench;
  let live: string;

  afterEach(async () => {
    await chmod(live, 0o755).catch(() => undefined);
    await rm(live, { recursive: true, force: true }).catch(() => undefined);
    await bench.cleanup();
  });

  /** A set restored into scratch, and a live folder like it with `changes` applied (null deletes). */
  async function prepare(changes: Record<string, string | null>): Promise<void> {
    bench = await makeBench(SET);
    await copyInto(bench.setDir, bench.scratch);
    live = join(bench.root, 'live');
    await writeFiles(live, SET);
    await symlink('a.txt', join(live, 'link-to-a'));
    await symlink('a.txt', join(bench.scratch, 'link-to-a'));
    for (const [name, content] of Object.entries(changes)) {
      if (content === null) await rm(join(live, name));
      else {
        await mkdir(join(live, name, '..'), { recursive: true });
        await writeFile(join(live, name), content);
      }
    }
    await readOnly(live);
  }

  async function judge(tolerance: string) {
    const before = await snapshot(live);
    const check = new LiveCheck(liveCheckConfigSchema.parse({ path: live, tolerance }));
    const [result] = await check.run(
      await contextFor(bench, { outcome: { links: [{ path: 'link-to-a', target: 'a.txt' }] } }),
    );
    // Read-only: nothing on the live side changed, not even ctime (a chmod or utimes would move it).
    expect(await snapshot(live)).toEqual(before);
    return result!;
  }

  it('passes when the share that differs stays within the tolerance, recording it and the names', async () => {
    await prepare({ 'b.txt': 'bravo, edited after the backup\n' });
    const result = await judge('10%');
    expect(result.verdict).toBe('passed');
    expect(result.expected).toEqual({ live, tolerance: '10%' });
    expect(result.actual).toEqual({ compared: 11, differing: 1, share: 1 / 11, names: ['b.txt'] });
    expect(result.detail).toBe(
      `9.09% of 11 restored items differ from the live side ${live} (tolerance 10%): differs 'b.txt'`,
    );
    expect(result.findings).toBeUndefined();
  });

  it('fails beyond the tolerance, naming the share and a few examples, a missing live file counting as differing', async () => {
    await prepare({
      'a.txt': 'ALPHA\n',
      'docs/e.txt': null,
      'g.txt': 'golf golf\n',
      'link-to-a': null,
    });
    await chmod(live, 0o755);
    await symlink('b.txt', join(live, 'link-to-a'));
    await chmod(live, 0o555);
    const result = await judge('20%');
    expect(result.verdict).toBe('failed');
    expect(result.actual).toMatchObject({
      compared: 11,
      differing: 4,
      names: ['a.txt', 'docs/e.txt', 'g.txt', 'link-to-a'],
    });
    expect(result.detail).toBe(
      `36.36% of 11 restored items differ from the live side ${live} (tolerance 20%): differs 'a.txt', missing-live 'docs/e.txt', differs 'g.txt' and 1 more`,
    );
    expect(result.findings).toHaveLength(4);
    expect(result.findings?.[0]).toMatchObject({
      item: 'a.txt',
      problem: 'differs',
      expected: { size: 6 },
      actual: { size: 6 },
    });
    expect(result.findings?.[3]).toEqual({
      item: 'link-to-a',
      problem: 'differs',
      expected: { target: 'a.txt' },
      actual: { target: 'b.txt' },
    });
    expect(result.findingsTotal).toBe(4);
  });

  it('fails with any difference at a tolerance of 0%', async () => {
    await prepare({ 'docs/f.txt': 'FOXTROT\n' });
    expect((await judge('0%')).verdict).toBe('failed');
  });

  it('passes an identical live side at a tolerance of 0%', async () => {
    await prepare({});
    const same = await judge('0%');
    expect(same.verdict).toBe('passed');
    expect(same.actual).toMatchObject({ compared: 11, differing: 0, share: 0, names: [] });
  });

  it('counts a live folder where a file was restored as differing, never reading through it', async () => {
    await prepare({ 'c.txt': null, 'c.txt/inside.txt': 'charlie\n' });
    const result = await judge('5%');
    expect(result.verdict).toBe('failed');
    expect(result.findings).toEqual([
      {
        item: 'c.txt',
        problem: 'not-a-file-live',
        expected: { size: 8, sha256: createHash('sha256').update('charlie\n').digest('hex') },
        actual: 'not a regular file on the live side',
      },
    ]);
  });

  it('breaks (cannot judge) rather than fails when the live folder is missing', async () => {
    await prepare({});
    const check = new LiveCheck(
      liveCheckConfigSchema.parse({ path: join(bench.root, 'nowhere'), tolerance: '5%' }),
    );
    await expect(check.run(await contextFor(bench))).rejects.toThrow(
      `live folder ${join(bench.root, 'nowhere')} cannot be read: ENOENT`,
    );
  });
});

describe('checks.live config', () => {
  function problems(drill: string): string {
    try {
      parseConfig(`drills:\n  - name: n\n${drill}`, 'drills.yaml', {}, '/etc/restore-drill');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).message;
    }
    throw new Error('expected a ConfigError');
  }

  it('is accepted on a directory drill', () => {
    const { config } = parseConfig(
      `drills:\n  - name: n\n    source: { kind: directory, path: /b/* }\n    checks: { live: { path: /srv/files, tolerance: 5% } }\n`,
      'drills.yaml',
    );
    expect(config.drills[0]?.checks.live).toEqual({ path: '/srv/files', tolerance: '5%' });
  });

  it('refuses other source kinds, relative paths and bad tolerances in one line each', () => {
    expect(
      problems(
        `    source: { kind: tar, path: /b/*.tar }\n    checks: { live: { path: /srv, tolerance: 5% } }\n`,
      ),
    ).toMatch(
      /drills\[0\]\.checks\.live: compares restored files with a live folder, so it needs a directory source; this drill's source is 'tar'/,
    );
    expect(
      problems(
        `    source: { kind: directory, path: /b/* }\n    checks: { live: { path: srv, tolerance: 5% } }\n`,
      ),
    ).toMatch(
      /drills\[0\]\.checks\.live\.path: expected the live folder's absolute path, e.g. \/srv\/files/,
    );
    expect(
      problems(
        `    source: { kind: directory, path: /b/* }\n    checks: { live: { path: /srv, tolerance: 150% } }\n`,
      ),
    ).toMatch(/drills\[0\]\.checks\.live\.tolerance: expected a percentage from 0% to 100%/);
    expect(
      problems(
        `    source: { kind: directory, path: /b/* }\n    checks: { live: { path: /srv } }\n`,
      ),
    ).toMatch(/drills\[0\]\.checks\.live\.tolerance: /);
  });
});

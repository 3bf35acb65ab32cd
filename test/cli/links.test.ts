import {
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, writeTree } from '../helpers/artefacts.js';
import { cli, runDrills } from '../helpers/cli.js';
import { createResticRepo, TEST_RESTIC_PASSWORD, type ResticRepo } from '../helpers/restic-repo.js';
import { tempDir } from '../helpers/temp.js';
import { createTestDatabase } from '../helpers/test-database.js';

interface RunJson {
  runs: {
    runId: string;
    drill: string;
    verdict: string;
    cause: string | null;
    restored: { files: number; links?: number };
    checks: {
      name: string;
      verdict: string;
      actual: unknown;
      findings?: { item: string; problem: string; expected?: unknown; actual?: unknown }[];
    }[];
  }[];
}

/** Every kind of link a real backup holds: relative, absolute (outside the set), dangling, to a folder, and a hard link. */
const LINKS = {
  'conf/current': 'app.conf',
  'os-release': '../usr/lib/os-release',
  hostname: '/etc/hostname',
  dangling: 'no/such/file',
  'up/conf': '../conf',
};

let root: string;
let configFile: string;
let dbUrl: string;
let restic: ResticRepo;

/** The tree every backup is made of, with its links; `changed` points one link elsewhere. */
async function makeTree(dir: string, changed = false): Promise<void> {
  await writeTree(dir, {
    'a.txt': 'alpha\n',
    'conf/app.conf': 'port = 1\n',
    'conf/other.conf': 'port = 2\n',
    'up/readme': 'up\n',
  });
  for (const [link, target] of Object.entries(LINKS))
    await symlink(changed && link === 'conf/current' ? 'other.conf' : target, path.join(dir, link));
  await run('ln', [path.join(dir, 'a.txt'), path.join(dir, 'hard.txt')]);
}

beforeAll(async () => {
  root = await tempDir('restore-drill-links-');
  dbUrl = await createTestDatabase();
  const tree = path.join(root, 'tree');
  await makeTree(tree);
  // Manifests made at backup time: restore-drill's own (links by target) and coreutils' (regular files only).
  const made = await cli(['manifest', tree, '--out', path.join(root, 'manifest.json')]);
  expect(made.exitCode, made.stderr).toBe(0);
  expect(made.stderr).toContain('manifest of 5 files (33 B) and 5 links');
  const files = ['a.txt', 'conf/app.conf', 'conf/other.conf', 'hard.txt', 'up/readme'];
  await writeFile(path.join(root, 'SHA256SUMS'), await run('sha256sum', files, tree));

  await mkdir(path.join(root, 'folders'), { recursive: true });
  await run('cp', ['-a', tree, path.join(root, 'folders', 'set-1')]);
  await makeTree(path.join(root, 'changed', 'set-1'), true);
  await mkdir(path.join(root, 'archives'), { recursive: true });
  await run('tar', ['-czf', path.join(root, 'archives', 'set-1.tar.gz'), '-C', tree, '.']);
  restic = await createResticRepo();
  await restic.backup(['.'], { cwd: tree });

  const checks = `
    checks:
      manifest: { format: restore-drill, path: ${path.join(root, 'manifest.json')} }
      extraFiles: fail
      files: { exact: 5 }`;
  configFile = path.join(root, 'restore-drill.yaml');
  await writeFile(
    configFile,
    `database:
  url: \${env:RD_TEST_DB_URL}
scratch:
  root: scratch
  keep: always
drills:
  - name: folder
    source: { kind: directory, path: folders/set-* }${checks}
  - name: folder-sampled
    source: { kind: directory, path: folders/set-* }
    sample: { size: 100% }${checks}
  - name: archive
    source: { kind: tar, path: archives/*.tar.gz }${checks}
  - name: snapshot
    source:
      kind: restic
      repository: ${restic.repository}
      password: \${env:RD_RESTIC_PASSWORD}
      env: { RESTIC_CACHE_DIR: ${restic.cacheDir} }${checks}
  - name: coreutils
    source: { kind: tar, path: archives/*.tar.gz }
    checks:
      manifest: { format: sha256sum, path: ${path.join(root, 'SHA256SUMS')} }
      extraFiles: fail
  - name: changed
    source: { kind: directory, path: changed/set-* }${checks}
`,
  );
}, 120_000);

afterAll(async () => {
  await restic?.cleanup();
  if (root) await rm(path.join(root, 'scratch'), { recursive: true, force: true });
});

const env = (): Record<string, string> => ({
  RD_TEST_DB_URL: dbUrl,
  RD_RESTIC_PASSWORD: TEST_RESTIC_PASSWORD,
});

async function drill(name: string): Promise<RunJson['runs'][number]> {
  const { runs } = await runDrills<RunJson['runs'][number]>(configFile, [name], { env: env() });
  return runs[0]!;
}

describe('links restored as links, through the CLI', () => {
  // The drills run in one CLI process; each test checks its drill's run.
  const WHOLE = ['folder', 'archive', 'snapshot'];
  let runs: RunJson['runs'];
  const runOf = (name: string): RunJson['runs'][number] =>
    runs.find((runJson) => runJson.drill === name)!;
  beforeAll(async () => {
    ({ runs } = await runDrills<RunJson['runs'][number]>(
      configFile,
      [...WHOLE, 'folder-sampled', 'coreutils', 'changed'],
      { env: env() },
    ));
  });

  it.each(WHOLE)(
    '%s: passes with every link restored as a link with its target, and hard links as hard links',
    async (name) => {
      const runJson = runOf(name);
      expect(runJson.cause).toBeNull();
      expect(runJson.verdict).toBe('passed');
      expect(runJson.restored).toMatchObject({ files: 5, links: 5 });
      const manifest = runJson.checks.find((check) => check.name === 'manifest');
      expect(manifest?.actual).toMatchObject({ verified: 5, linksVerified: 5 });
      // Kept (keep: always) in a folder named after the drill.
      const kept = (await readdir(path.join(root, 'scratch'))).filter((dir) =>
        dir.startsWith(`${name}-2`),
      );
      expect(kept).toHaveLength(1);
      const scratch = path.join(root, 'scratch', kept[0] as string);
      for (const [link, target] of Object.entries(LINKS))
        expect(await readlink(path.join(scratch, link)), link).toBe(target);
      const [a, hard] = await Promise.all(
        ['a.txt', 'hard.txt'].map((file) => lstat(path.join(scratch, file))),
      );
      expect(hard?.ino).toBe(a?.ino);
    },
  );

  it('gives a sampled run of the whole folder the same verdict as a whole restore', () => {
    const runJson = runOf('folder-sampled');
    expect(runJson.verdict).toBe('passed');
    expect(runJson.restored.files).toBe(5);
  });

  it('passes a coreutils sha256sum manifest, which lists regular files only', () => {
    const runJson = runOf('coreutils');
    expect(runJson.verdict).toBe('passed');
    expect(runJson.checks.map((check) => [check.name, check.verdict])).toContainEqual([
      'extraFiles',
      'passed',
    ]);
  });

  it('fails a backup whose link points elsewhere, naming the link and both targets', () => {
    const runJson = runOf('changed');
    expect(runJson.verdict).toBe('failed');
    expect(runJson.cause).toContain('conf/current');
    const manifest = runJson.checks.find((check) => check.name === 'manifest');
    expect(manifest?.findings).toEqual([
      {
        item: 'conf/current',
        problem: 'changed',
        expected: { target: 'app.conf' },
        actual: { target: 'other.conf' },
      },
    ]);
  });
});

describe('links in the evidence', () => {
  const linkItems = Object.entries(LINKS)
    .map(([link, target]) => ({ path: link, size: 0, sha256: null, linkTarget: target }))
    .sort((a, b) => (a.path < b.path ? -1 : 1));

  it('records every restored link as an item with its target: show --items, export --items, verify', async () => {
    const runJson = await drill('archive');
    expect(runJson.verdict).toBe('passed');
    const shown = await cli(['show', runJson.runId, '--items', '--json', '--config', configFile], {
      env: env(),
    });
    expect(shown.exitCode, shown.stderr).toBe(0);
    const items = (JSON.parse(shown.stdout) as { items: { linkTarget?: string }[] }).items;
    expect(items).toHaveLength(10);
    expect(items.filter((item) => item.linkTarget !== undefined)).toEqual(linkItems);

    const human = await cli(['show', runJson.runId, '--items', '--config', configFile], {
      env: env(),
    });
    expect(human.stdout).toMatch(/^ {2}link {62}\s+os-release -> \.\.\/usr\/lib\/os-release$/m);

    const bundle = path.join(root, 'bundle.jsonl');
    const exported = await cli(
      ['evidence', 'export', '--items', '--out', bundle, '--config', configFile],
      { env: env() },
    );
    expect(exported.exitCode, exported.stderr).toBe(0);
    const lines = (await readFile(bundle, 'utf8'))
      .split('\n')
      .filter((line) => line.includes('"linkTarget"'))
      .map((line) => JSON.parse(line) as { path: string });
    expect(lines.map((line) => line.path)).toEqual(
      expect.arrayContaining(linkItems.map((item) => item.path)),
    );
    const offline = await cli(['evidence', 'verify', bundle, '--json']);
    expect(offline.exitCode, offline.stdout).toBe(0);
    const verified = await cli(['evidence', 'verify', '--config', configFile], { env: env() });
    expect(verified.exitCode, verified.stdout + verified.stderr).toBe(0);
  }, 60_000);

  it('fails evidence verify when a recorded link target is changed in the store, naming the run', async () => {
    const runJson = await drill('folder');
    expect(runJson.verdict).toBe('passed');
    const client = new pg.Client({ connectionString: dbUrl });
    await client.connect();
    const setTarget = async (target: string) => {
      await client.query('alter table run_items disable trigger run_items_append_only');
      try {
        await client.query(
          `update run_items set link_target = $1 where run_id = $2 and path = 'conf/current'`,
          [target, runJson.runId],
        );
      } finally {
        await client.query('alter table run_items enable trigger run_items_append_only');
      }
    };
    try {
      await setTarget('other.conf');
      const verified = await cli(['evidence', 'verify', '--config', configFile], { env: env() });
      expect(verified.exitCode).toBe(1);
      expect(verified.stdout + verified.stderr).toContain(
        `(run ${runJson.runId}): items do not match the record's itemsDigest: an item's size or SHA-256 or a link target was changed`,
      );
    } finally {
      await setTarget('app.conf');
      await client.end();
    }
  }, 60_000);
});

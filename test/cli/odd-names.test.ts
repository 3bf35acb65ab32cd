import { mkdir, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/run-command.js';
import { run } from '../helpers/artefacts.js';
import { cli, runDrills } from '../helpers/cli.js';
import { createResticRepo, TEST_RESTIC_PASSWORD, type ResticRepo } from '../helpers/restic-repo.js';
import { tempDir } from '../helpers/temp.js';
import { createTestDatabase } from '../helpers/test-database.js';

interface RunJson {
  runs: {
    drill: string;
    verdict: string;
    cause: string | null;
    restored: { files: number; links?: number };
    checks: {
      name: string;
      verdict: string;
      detail: string;
      actual: unknown;
      findings?: { item: string; problem: string; expected?: unknown; actual?: unknown }[];
    }[];
  }[];
}

/**
 * Files named with bytes a backup meets in the wild, as raw bytes (latin1: one byte per
 * character), with their escaped form (docs/file-names.md). Both forms of `café` are
 * valid UTF-8 (NFC and NFD): kept as they are, and distinct.
 */
const ODD: [raw: string, escaped: string][] = [
  ['bad\xff\xfe.txt', 'bad\\xff\\xfe.txt'],
  ['line\nbreak.txt', 'line\\nbreak.txt'],
  ['tab\tesc\x1b[31m.txt', 'tab\\tesc\\x1b[31m.txt'],
  ['back\\slash.txt', 'back\\\\slash.txt'],
  [Buffer.from('café.txt').toString('latin1'), 'café.txt'],
  [Buffer.from('cafe\u0301.txt').toString('latin1'), 'cafe\u0301.txt'],
  ['dir\xe9/inner\x7f.txt', 'dir\\xe9/inner\\x7f.txt'],
];
/** The file whose content the `changed` sets alter. */
const VICTIM = 'bad\\xff\\xfe.txt';
/** A link whose name and target are not UTF-8: restored as a link with the same bytes. */
const LINK: [raw: string, target: string] = ['link\xff', 'bad\xff\xfe.txt'];
const LINK_ESCAPED = 'link\\xff';
/** The link target of the faithful restic snapshot: `café.txt`, raw UTF-8 bytes. */
const RESTIC_LINK_TARGET = ODD[4]![0];

/** Nothing a terminal would act on: no control character, DEL or C1 control. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

let root: string;
let configFile: string;
let dbUrl: string;
let restic: ResticRepo;
let resticLossy: ResticRepo;

const bytesOf = (raw: string): Buffer => Buffer.from(raw, 'latin1');
const under = (dir: string, raw: string): Buffer =>
  Buffer.concat([Buffer.from(`${dir}/`), bytesOf(raw)]);

/**
 * The tree every backup is made of (Buffer paths: the names are bytes); `changed` alters
 * one file's bytes (same size); `linkTarget` replaces the link's odd target.
 */
async function makeTree(
  dir: string,
  options: { changed?: boolean; linkTarget?: string } = {},
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'plain.txt'), 'plain\n');
  for (const [raw] of ODD) {
    const slash = raw.lastIndexOf('/');
    if (slash !== -1) await mkdir(under(dir, raw.slice(0, slash)), { recursive: true });
    const content = `content of ${raw}\n`;
    const changed = options.changed === true && raw === ODD[0]![0];
    await writeFile(under(dir, raw), bytesOf(changed ? content.toUpperCase() : content));
  }
  await symlink(bytesOf(options.linkTarget ?? LINK[1]), under(dir, LINK[0]));
}

beforeAll(async () => {
  root = await tempDir('restore-drill-odd-names-');
  dbUrl = await createTestDatabase();
  const tree = path.join(root, 'tree');
  await makeTree(tree);
  const made = await cli(['manifest', tree, '--out', path.join(root, 'manifest.json')]);
  expect(made.exitCode, made.stderr).toBe(0);
  expect(made.stderr).toContain(`manifest of ${ODD.length + 1} files`);
  // coreutils' own manifest: names written raw (or `\`-escaped), found with NUL separators.
  const sums = await runCommand(
    'sh',
    ['-c', 'find . -type f -print0 | sort -z | xargs -0 sha256sum > ../SHA256SUMS'],
    { cwd: tree },
  );
  expect(sums.exitCode, sums.stderrTail).toBe(0);

  for (const [kind, changed] of [
    ['folders', false],
    ['changed-folders', true],
  ] as const) {
    await makeTree(path.join(root, kind, 'set-1'), { changed });
    const archives = path.join(root, `${kind === 'folders' ? '' : 'changed-'}archives`);
    await mkdir(archives, { recursive: true });
    const set = path.join(root, kind, 'set-1');
    // GNU tar's default format writes names as raw bytes.
    await run('tar', ['-cf', path.join(archives, 'set-1.tar'), '-C', set, '.']);
    await run('tar', ['-czf', path.join(archives, 'set-1.tar.gz'), '-C', set, '.']);
    // GNU tar's PAX format writes a name that is not UTF-8 raw in the `path` record, marked
    // `hdrcharset=BINARY` in the changed set.
    const paxArchives = path.join(root, `${kind === 'folders' ? '' : 'changed-'}pax-archives`);
    await mkdir(paxArchives, { recursive: true });
    const paxTar = path.join(paxArchives, 'set-1.tar');
    const binary = kind === 'folders' ? [] : ['--pax-option=hdrcharset=BINARY'];
    await run('tar', ['--format=pax', ...binary, '-cf', paxTar, '-C', set, '.']);
    const paxBytes = await readFile(paxTar);
    expect(paxBytes.includes(bytesOf(' path=./bad\xff\xfe.txt\n'))).toBe(true);
    expect(paxBytes.includes(bytesOf(' hdrcharset=BINARY\n'))).toBe(kind !== 'folders');
  }
  // restic 0.14 keeps names' bytes but stores a link target that is not UTF-8 lossily:
  // its faithful snapshot links to a UTF-8 name, with a manifest of its own.
  const resticTree = path.join(root, 'restic-tree');
  await makeTree(resticTree, { linkTarget: RESTIC_LINK_TARGET });
  const resticMade = await cli([
    'manifest',
    resticTree,
    '--out',
    path.join(root, 'manifest-restic.json'),
  ]);
  expect(resticMade.exitCode, resticMade.stderr).toBe(0);
  restic = await createResticRepo();
  await restic.backup(['.'], { cwd: resticTree });
  resticLossy = await createResticRepo();
  await resticLossy.backup(['.'], { cwd: tree });

  const manifest = (format: string, file: string): string => `
    checks:
      manifest: { format: ${format}, path: ${path.join(root, file)} }
      extraFiles: fail`;
  const own = manifest('restore-drill', 'manifest.json');
  const coreutils = manifest('sha256sum', 'SHA256SUMS');
  const ownRestic = manifest('restore-drill', 'manifest-restic.json');
  const resticSourceOf = (repo: ResticRepo): string => `
      kind: restic
      repository: ${repo.repository}
      password: \${env:RD_RESTIC_PASSWORD}
      env: { RESTIC_CACHE_DIR: ${repo.cacheDir} }`;
  const resticSource = resticSourceOf(restic);
  configFile = path.join(root, 'restore-drill.yaml');
  await writeFile(
    configFile,
    `database:
  url: \${env:RD_TEST_DB_URL}
scratch:
  root: scratch
  keep: never
drills:
  - name: folder
    source: { kind: directory, path: folders/set-* }${own}
  - name: folder-sampled
    source: { kind: directory, path: folders/set-* }
    sample: { size: 50% }${own}
  - name: folder-all
    source: { kind: directory, path: folders/set-* }
    sample: { size: 100% }${own}
  - name: folder-coreutils
    source: { kind: directory, path: folders/set-* }${coreutils}
  - name: tar
    source: { kind: tar, path: archives/*.tar }${own}
  - name: tar-gz
    source: { kind: tar, path: archives/*.tar.gz }${coreutils}
  - name: tar-pax
    source: { kind: tar, path: pax-archives/*.tar }${own}
  - name: tar-all
    source: { kind: tar, path: archives/*.tar.gz }
    sample: { size: 100% }${own}
  - name: snapshot
    source:${resticSource}${ownRestic}
  - name: snapshot-coreutils
    source:${resticSource}${coreutils}
  - name: snapshot-all
    source:${resticSource}
    sample: { size: 100% }${ownRestic}
  - name: snapshot-lossy-link
    source:${resticSourceOf(resticLossy)}${own}
  - name: changed-folder
    source: { kind: directory, path: changed-folders/set-* }${own}
  - name: changed-folder-all
    source: { kind: directory, path: changed-folders/set-* }
    sample: { size: 100% }${coreutils}
  - name: changed-tar
    source: { kind: tar, path: changed-archives/*.tar }${own}
  - name: changed-tar-pax
    source: { kind: tar, path: changed-pax-archives/*.tar }${own}
  - name: changed-tar-gz
    source: { kind: tar, path: changed-archives/*.tar.gz }${coreutils}
`,
  );
}, 120_000);

afterAll(async () => {
  await restic?.cleanup();
  await resticLossy?.cleanup();
  if (root) await rm(path.join(root, 'scratch'), { recursive: true, force: true });
});

const env = (): Record<string, string> => ({
  RD_TEST_DB_URL: dbUrl,
  RD_RESTIC_PASSWORD: TEST_RESTIC_PASSWORD,
});

/** The run of drill `name` among `runs`. */
function runOf(runs: RunJson['runs'], name: string): RunJson['runs'][number] {
  const found = runs.find((runJson) => runJson.drill === name);
  if (!found) throw new Error(`no run for ${name}`);
  return found;
}

describe('file names as bytes, end to end through the CLI', () => {
  // Each group of drills runs in one CLI process; each test checks its drill's run.
  const PASSING = [
    'folder',
    'folder-coreutils',
    'tar',
    'tar-gz',
    'tar-pax',
    'snapshot',
    'snapshot-coreutils',
  ];
  const SAMPLED = ['folder-sampled', 'folder-all', 'tar-all'];
  const LOSSY = ['snapshot-all', 'snapshot-lossy-link'];
  const CHANGED = [
    'changed-folder',
    'changed-folder-all',
    'changed-tar',
    'changed-tar-pax',
    'changed-tar-gz',
  ];

  describe('drills that pass', () => {
    let runs: RunJson['runs'];
    beforeAll(async () => {
      ({ runs } = await runDrills<RunJson['runs'][number]>(configFile, PASSING, { env: env() }));
    }, 60_000);

    it.each(PASSING)('%s: passes, every odd name restored and matched byte for byte', (name) => {
      const runJson = runOf(runs, name);
      expect(runJson.cause).toBeNull();
      expect(runJson.verdict).toBe('passed');
      expect(runJson.restored.files).toBe(ODD.length + 1);
      const manifest = runJson.checks.find((check) => check.name === 'manifest');
      expect(manifest?.verdict).toBe('passed');
      expect(manifest?.actual).toMatchObject({ verified: ODD.length + 1 });
      if (!name.endsWith('coreutils')) expect(runJson.restored.links).toBe(1);
    });
  });

  describe('sampled drills, and restic 0.14 with names that are not UTF-8', () => {
    let runs: RunJson['runs'];
    beforeAll(async () => {
      ({ runs } = await runDrills<RunJson['runs'][number]>(configFile, [...SAMPLED, ...LOSSY], {
        env: env(),
      }));
    }, 60_000);

    it.each(SAMPLED)('%s: a sampled run passes with the odd names in its sample', (name) => {
      const runJson = runOf(runs, name);
      expect(runJson.cause).toBeNull();
      expect(runJson.verdict).toBe('passed');
    });

    it('snapshot-all: restic 0.14 lists names that are not UTF-8 lossily; the sample warns, never fails', () => {
      const runJson = runOf(runs, 'snapshot-all');
      expect(runJson.cause).toBeNull();
      expect(runJson.verdict).toBe('passed');
      const names = runJson.checks.find((check) => check.name === 'restic-names');
      expect(names?.verdict).toBe('warning');
      expect(names?.findings?.map((finding) => [finding.item, finding.problem])).toEqual([
        ['bad\uFFFD\uFFFD.txt', 'unverifiable'],
        ['dir\uFFFD/inner\\x7f.txt', 'unverifiable'],
      ]);
      // Every name restic reports faithfully was restored and verified.
      expect(runJson.restored.files).toBe(ODD.length + 1 - 2);
      const manifest = runJson.checks.find((check) => check.name === 'manifest');
      expect(manifest?.verdict).toBe('passed');
    });

    it('snapshot-lossy-link: a link target restic 0.14 stored lossily restores changed, and the drill says so', () => {
      const runJson = runOf(runs, 'snapshot-lossy-link');
      expect(runJson.verdict).toBe('failed');
      expect(runJson.cause).toContain(LINK_ESCAPED);
      const manifest = runJson.checks.find((check) => check.name === 'manifest');
      expect(manifest?.findings).toEqual([
        {
          item: LINK_ESCAPED,
          problem: 'changed',
          expected: { target: 'bad\\xff\\xfe.txt' },
          actual: { target: 'bad\uFFFD\uFFFD.txt' },
        },
      ]);
    });
  });

  describe('drills whose odd-named file was changed', () => {
    let changed: { stdout: string; runs: RunJson['runs'] };
    beforeAll(async () => {
      changed = await runDrills<RunJson['runs'][number]>(configFile, CHANGED, { env: env() });
    }, 60_000);

    it.each(CHANGED)('%s: fails naming the changed odd-named file in its escaped form', (name) => {
      const runJson = runOf(changed.runs, name);
      expect(runJson.verdict).toBe('failed');
      expect(runJson.cause).toContain(VICTIM);
      const manifest = runJson.checks.find((check) => check.name === 'manifest');
      expect(manifest?.findings).toEqual([
        expect.objectContaining({ item: VICTIM, problem: 'changed' }),
      ]);
    });

    it('keeps the escaped form inside JSON strings (escaped again as JSON does)', () => {
      expect(changed.stdout).toContain(JSON.stringify(VICTIM).slice(1, -1));
      expect(RAW_CONTROL.test(changed.stdout)).toBe(false);
    });
  });

  it('restores the odd names and the link with the same bytes (kept scratch)', async () => {
    const keepConfig = configFile.replace(/\.yaml$/, '-keep.yaml');
    await writeFile(
      keepConfig,
      (await readFile(configFile, 'utf8')).replace('keep: never', 'keep: always'),
    );
    const names = ['folder', 'tar', 'tar-pax', 'snapshot'];
    const result = await cli(
      ['run', '--config', keepConfig, ...names.flatMap((name) => ['--drill', name]), '--json'],
      { env: env() },
    );
    expect(result.exitCode, result.stderr).toBe(0);
    for (const name of names) {
      const kept = (await readdir(path.join(root, 'scratch'))).filter((dir) =>
        dir.startsWith(`${name}-2`),
      );
      expect(kept).toHaveLength(1);
      const scratch = path.join(root, 'scratch', kept[0] as string);
      const top = (await readdir(scratch, { encoding: 'buffer' })).map((entry) =>
        entry.toString('latin1'),
      );
      for (const [raw] of ODD) expect(top, name).toContain(raw.split('/')[0]);
      expect(
        (await readlink(under(scratch, LINK[0]), { encoding: 'buffer' })).toString('latin1'),
      ).toBe(name === 'snapshot' ? RESTIC_LINK_TARGET : LINK[1]);
      await rm(scratch, { recursive: true, force: true });
    }
  }, 60_000);

  it('prints odd names escaped in human output, never a raw control character', async () => {
    const result = await cli(['run', '--config', configFile, '--drill', 'changed-tar'], {
      env: { ...env(), RESTORE_DRILL_LOG_FORMAT: 'text' },
    });
    expect(result.exitCode).not.toBe(0);
    expect(result.stdout).toContain(VICTIM);
    expect(RAW_CONTROL.test(result.stdout)).toBe(false);
    expect(RAW_CONTROL.test(result.stderr)).toBe(false);
  }, 60_000);
});

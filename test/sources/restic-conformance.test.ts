import { readdir, truncate } from 'node:fs/promises';
import path from 'node:path';
import { silentLogger } from '../../src/log/logger.js';
import { resticSourceKind } from '../../src/sources/restic-source.js';
import { resticSourceConfigSchema } from '../../src/sources/restic-source-config.js';
import { createResticRepo, TEST_RESTIC_PASSWORD, type ResticRepo } from '../helpers/restic-repo.js';
import { describeSourceConformance } from './source-conformance.js';

const log = silentLogger();
let repo: ResticRepo;
/** The pack files each snapshot added, by snapshot id: what damaging it truncates. */
const packsOf = new Map<string, string[]>();

/** A group is a tag: each set is a snapshot carrying its group's tag. */
const groupTag = (group: string): string => path.basename(group);

async function packFiles(): Promise<string[]> {
  const data = path.join(repo.repository, 'data');
  const files: string[] = [];
  for (const sub of await readdir(data))
    for (const name of await readdir(path.join(data, sub))) files.push(path.join(data, sub, name));
  return files;
}

/** `restic backup --time` reads local time. */
function resticTime(time: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${time.getFullYear()}-${two(time.getMonth() + 1)}-${two(time.getDate())} ${two(time.getHours())}:${two(time.getMinutes())}:${two(time.getSeconds())}`;
}

describeSourceConformance({
  kind: 'restic',
  capabilities: {
    files: true,
    globPaths: false,
    // Snapshot ids are random hashes: `latest` by name picks nothing meaningful.
    namedSets: false,
    sampling: true,
    // restic refuses to save an empty snapshot ('snapshot is empty').
    emptySets: false,
    damage: true,
  },
  async setup() {
    repo = await createResticRepo();
    return () => repo.cleanup();
  },
  setName: (name) => `set-${name}`,
  async makeSet(tree, group, name, time) {
    // Snapshots have no names: one the selector must not match goes under another tag.
    const tag = name.startsWith('set-') ? groupTag(group) : `${groupTag(group)}-unmatched`;
    const before = new Set(await packFiles());
    const short = await repo.backup(['.'], {
      cwd: tree,
      tags: [tag],
      ...(time ? { time: resticTime(time) } : {}),
    });
    const id = (await repo.fullIds()).get(short);
    if (!id) throw new Error(`snapshot ${short} not listed`);
    packsOf.set(
      id,
      (await packFiles()).filter((file) => !before.has(file)),
    );
    return id;
  },
  create(group) {
    const config = resticSourceConfigSchema.parse({
      kind: 'restic',
      repository: repo.repository,
      password: TEST_RESTIC_PASSWORD,
      cacheDir: repo.cacheDir,
      tags: [groupTag(group)],
    });
    return resticSourceKind.create(config, { configDir: repo.dir, log });
  },
  async vanish(id) {
    // The abort case before this one may stop restic between writing its lock and registering it
    // for clean-up (restic's own window); `unlock` removes only such stale locks, as an operator would.
    await repo.restic(['unlock']);
    await repo.restic(['forget', id]);
  },
  // restore and ls word it differently; both name the snapshot.
  vanishedMessage: (id) =>
    new RegExp(
      `^restic (restore: snapshot not found in repository .*"${id}"|snapshot ${id} not found in repository)`,
    ),
  // The missing packs are found by the repository-wide pack check that runs before the restore.
  damagedMessage: (id) =>
    `restic repository ${repo.repository} is missing data of its index, so snapshot ${id.slice(0, 8)} cannot be restored: pack `,
  async damage(id) {
    const packs = packsOf.get(id) ?? [];
    if (packs.length === 0) throw new Error(`snapshot ${id} added no pack to damage`);
    for (const pack of packs) await truncate(pack, 100);
  },
});

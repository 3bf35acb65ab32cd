import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { createWriteStream, existsSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import {
  installedPgliteVersion,
  openPglite,
  pgliteSeedsFor,
  SEED_DIRS,
  seedFileName,
} from '../../src/evidence/pglite-seed.js';
import { migratedSeedVariant } from '../../src/evidence/migrations/index.js';
import { tempDir } from '../helpers/temp.js';

describe('PGlite seed', () => {
  it('npm run build leaves a seed for the installed PGlite', async () => {
    const name = seedFileName(await installedPgliteVersion());
    const found = await Promise.all(
      SEED_DIRS.map((dir) =>
        readdir(dir).then(
          (names) => names.includes(name),
          () => false,
        ),
      ),
    );
    expect(found.some(Boolean), `${name} in ${SEED_DIRS.join(' or ')}: run npm run build`).toBe(
      true,
    );
  });

  it('is offered only for a new data folder, and only by the PGlite version that wrote it', async () => {
    const seeds = await tempDir('rd-seeds-');
    const version = await installedPgliteVersion();
    await writeFile(path.join(seeds, seedFileName('0.0.1')), 'another version');
    const fresh = path.join(await tempDir('rd-seed-data-'), 'pgdata');
    expect((await pgliteSeedsFor(fresh, [seeds]))[0] ?? null).toBeNull();

    await writeFile(path.join(seeds, seedFileName(version)), 'this version');
    const offered = (await pgliteSeedsFor(fresh, [seeds]))[0] ?? null;
    expect(offered && (await readFile(offered, 'utf8'))).toBe('this version');
    await mkdir(fresh);
    expect((await pgliteSeedsFor(fresh, [seeds]))[0] ?? null).not.toBeNull(); // an empty folder is new too

    await writeFile(path.join(fresh, 'PG_VERSION'), '17\n');
    expect((await pgliteSeedsFor(fresh, [seeds]))[0] ?? null).toBeNull();
  });

  it('opens new databases from the build seed, and keeps what they hold across reopening', async () => {
    const failures: unknown[] = [];
    const systemIds: string[] = [];
    const dirs: string[] = [];
    for (const name of ['one', 'two']) {
      const parent = await tempDir(`rd-seeded-${name}-`);
      const dataDir = path.join(parent, 'pgdata');
      dirs.push(dataDir);
      // Left by a run killed while unpacking the seed: removed by the next.
      await mkdir(path.join(parent, 'pgdata.seeding-99999999', 'base'), { recursive: true });
      const lite = await openPglite(dataDir, { onSeedFailed: (error) => failures.push(error) });
      const { rows } = await lite.query<{ id: string }>(
        'select system_identifier::text as id from pg_control_system()',
      );
      systemIds.push(rows[0]!.id);
      await lite.exec(`create table kept (name text); insert into kept values ('${name}')`);
      await lite.close();
      expect(await readdir(parent)).toEqual(['pgdata']);
    }
    expect(failures).toEqual([]);
    // initdb draws a new system identifier each time: two copies of one seed share it.
    expect(systemIds[0]).toBe(systemIds[1]);
    const again = await openPglite(dirs[1]!);
    expect((await again.query<{ name: string }>('select name from kept')).rows).toEqual([
      { name: 'two' },
    ]);
    // Small shared buffers on a reopened folder as on a seeded one: PGlite zeroes them at each start.
    const { rows } = await again.query<{ shared_buffers: string }>('show shared_buffers');
    expect(rows).toEqual([{ shared_buffers: '4MB' }]);
    await again.close();
  }, 60_000);

  it('sets a damaged seed aside and runs initdb instead, leaving nothing of it behind', async () => {
    // A well-formed tar.gz whose second member would land outside the data folder.
    const seeds = await tempDir('rd-bad-seed-');
    const tar = pack();
    tar.entry({ name: '/PG_VERSION' }, '18\n');
    tar.entry({ name: '/../escaped' }, 'outside');
    tar.finalize();
    const seed = path.join(seeds, seedFileName(await installedPgliteVersion()));
    await pipeline(tar, createGzip(), createWriteStream(seed));
    const parent = await tempDir('rd-unseeded-');
    const dataDir = path.join(parent, 'pgdata');
    const failures: unknown[] = [];
    const lite = await openPglite(dataDir, {
      onSeedFailed: (error) => failures.push(error),
      seedDirs: [seeds],
    });
    expect((await lite.query<{ one: number }>('select 1 as one')).rows).toEqual([{ one: 1 }]);
    await lite.close();
    expect(failures.map(String)).toEqual([
      `Error: seed ${seed} cannot be unpacked: member /../escaped: path has a '..' component`,
    ]);
    expect(await readdir(parent)).toEqual(['pgdata']);
  }, 60_000);

  it("tries the seed variants asked for first, best first, then initdb's; one that does not load is set aside for the next", async () => {
    const version = await installedPgliteVersion();
    const seeds = await tempDir('rd-variant-seeds-');
    // A variant holding a marker table, dumped the way PGlite dumps a data folder.
    const source = await openPglite(path.join(await tempDir('rd-variant-src-'), 'pgdata'));
    await source.exec(`create table marker (made text); insert into marker values ('variant')`);
    const dump = await source.dumpDataDir('gzip');
    await source.close();
    await writeFile(
      path.join(seeds, seedFileName(version, 'marked')),
      Buffer.from(await dump.arrayBuffer()),
    );
    const damaged = pack();
    damaged.entry({ name: '/../escaped' }, 'outside');
    damaged.finalize();
    const broken = path.join(seeds, seedFileName(version, 'broken'));
    await pipeline(damaged, createGzip(), createWriteStream(broken));
    const plain = SEED_DIRS.map((dir) => path.join(dir, seedFileName(version))).find(existsSync);
    expect(plain, 'npm run build leaves the plain seed').toBeDefined();
    await copyFile(plain!, path.join(seeds, seedFileName(version)));

    const open = async (variants: string[]) => {
      const failures: unknown[] = [];
      const lite = await openPglite(path.join(await tempDir('rd-variant-'), 'pgdata'), {
        seedDirs: [seeds],
        seedVariants: variants,
        onSeedFailed: (error) => failures.push(error),
      });
      const { rows } = await lite.query<{ marker: string | null }>(
        `select to_regclass('marker')::text as marker`,
      );
      await lite.close();
      return { marker: rows[0]!.marker, failures: failures.map(String) };
    };
    expect(await open(['missing', 'marked'])).toEqual({ marker: 'marker', failures: [] });
    expect(await open(['broken', 'marked'])).toEqual({
      marker: 'marker',
      failures: [
        `Error: seed ${broken} cannot be unpacked: member /../escaped: path has a '..' component`,
      ],
    });
    // No variant left: initdb's seed, without the marker.
    expect(await open(['broken'])).toMatchObject({ marker: null });
    expect(await open([])).toEqual({ marker: null, failures: [] });
  }, 60_000);

  it("npm run build leaves a seed of a new evidence store with this version's migrations", async () => {
    const name = seedFileName(await installedPgliteVersion(), migratedSeedVariant());
    expect(
      SEED_DIRS.some((dir) => existsSync(path.join(dir, name))),
      name,
    ).toBe(true);
  });
});

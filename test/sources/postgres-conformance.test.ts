import { mkdir, readdir, rm, stat, truncate, utimes } from 'node:fs/promises';
import path from 'node:path';
import { expect, inject } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import { PostgresSource } from '../../src/sources/postgres-source.js';
import { postgresSourceConfigSchema } from '../../src/sources/postgres-source-config.js';
import { scratchDatabaseName } from '../../src/sources/postgres/scratch-server.js';
import { createPgbenchDatabase, pgDump, scratchDatabases } from '../helpers/pg-dumps.js';
import { describeSourceConformance } from './source-conformance.js';

const log = silentLogger();
/** The database every set is a dump of (pgbench's 100,000 accounts: a restore worth aborting). */
let databaseUrl: string;

function postgresSource(pattern: string, configDir: string): PostgresSource {
  return new PostgresSource(
    postgresSourceConfigSchema.parse({
      kind: 'postgres',
      path: pattern,
      scratchServer: { url: inject('postgres').adminUrl },
    }),
    { configDir, log },
  );
}

// Its items are tables restored into a scratch database, not files: the file cases (hashes,
// samples of files, long names, many files, a large file, empty sets) do not apply and are
// covered by postgres-source.test.ts; listing, selecting, aborts, vanished and damaged sets do.
describeSourceConformance({
  kind: 'postgres',
  capabilities: {
    files: false,
    globPaths: true,
    namedSets: true,
    sampling: false,
    emptySets: false,
    damage: true,
  },
  async setup(root) {
    databaseUrl = await createPgbenchDatabase();
    // Aborted and damaged restores must drop their scratch databases too.
    return async () => {
      const scratchDirs = await readdir(path.join(root, 'scratch')).catch(() => []);
      const ours = new Set(scratchDirs.map((dir) => scratchDatabaseName(dir)));
      const left = (await scratchDatabases(inject('postgres').adminUrl)).filter((name) =>
        ours.has(name),
      );
      expect(left).toEqual([]);
    };
  },
  setName: (name) => `set-${name}.dump`,
  /** A set is a pg_dump -Fc file; the tree is not used. */
  async makeSet(_tree, group, name, time) {
    await mkdir(group, { recursive: true });
    const dump = await pgDump(databaseUrl, 'c', path.join(group, name));
    if (time) await utimes(dump, time, time);
    return dump;
  },
  create: (group, configDir) => postgresSource(path.join(group, 'set-*'), configDir),
  createFromGlob: postgresSource,
  vanish: (id) => rm(id),
  vanishedMessage: (id) => `cannot read dump ${id}: no such file or directory`,
  damage: async (id) => truncate(id, Math.floor((await stat(id)).size / 2)),
  damagedMessage: (id) => id,
});

import { mkdir, rm, stat, truncate, utimes } from 'node:fs/promises';
import path from 'node:path';
import { silentLogger } from '../../src/log/logger.js';
import { CommandSource } from '../../src/sources/command-source.js';
import { commandSourceConfigSchema } from '../../src/sources/command-source-config.js';
import { run } from '../helpers/artefacts.js';
import { describeSourceConformance } from './source-conformance.js';

const log = silentLogger();

/** A command source that restores `.tar.gz` sets found by a glob with the system tar. */
function tarCommandSource(pattern: string, configDir: string): CommandSource {
  return new CommandSource(
    commandSourceConfigSchema.parse({
      kind: 'command',
      sets: { path: pattern },
      restore: ['tar', '-xzf', '{set}', '-C', '{scratch}'],
    }),
    { configDir, log },
  );
}

describeSourceConformance({
  kind: 'command',
  capabilities: {
    files: true,
    globPaths: true,
    namedSets: true,
    // It restores whole sets: listItems and a sample are refused (command-source.test.ts).
    sampling: false,
    emptySets: true,
    damage: true,
  },
  setName: (name) => `set-${name}.tar.gz`,
  async makeSet(tree, group, name, time) {
    await mkdir(group, { recursive: true });
    const archive = path.join(group, name);
    await run('tar', ['-czf', archive, '-C', tree, '.']);
    if (time) await utimes(archive, time, time);
    return archive;
  },
  create: (group, configDir) => tarCommandSource(path.join(group, 'set-*'), configDir),
  createFromGlob: tarCommandSource,
  vanish: (id) => rm(id),
  vanishedMessage: (id) => `cannot read backup set ${id}: no such file or directory`,
  // tar exits 2 on a truncated archive: the backup was reached and does not restore.
  damage: async (id) => truncate(id, Math.floor((await stat(id)).size / 2)),
  damagedMessage: (id) => `restore command tar could not restore ${id}: `,
});

import { mkdir, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { guardConfigScratchRoot, guardScratchRoot } from '../../src/drill/scratch-guard.js';
import { ScratchError } from '../../src/scratch/scratch-dir.js';
import { tempDir } from '../helpers/temp.js';

describe('guardScratchRoot', () => {
  let base: string;
  let backups: string;

  beforeAll(async () => {
    base = await tempDir('restore-drill-guard-');
    backups = path.join(base, 'backups', 'app');
    await mkdir(backups, { recursive: true });
    await mkdir(path.join(base, 'scratch'), { recursive: true });
  });

  it('accepts a root apart from the sources, resolved', async () => {
    await expect(guardScratchRoot(path.join(base, 'scratch'), [backups])).resolves.toBe(
      path.join(base, 'scratch'),
    );
    await expect(guardScratchRoot(path.join(base, 'scratch', 'not-yet'), [backups])).resolves.toBe(
      path.join(base, 'scratch', 'not-yet'),
    );
  });

  it('accepts a root beside a source whose name it shares a prefix with', async () => {
    await expect(
      guardScratchRoot(path.join(base, 'backups', 'app-scratch'), [backups]),
    ).resolves.toBeDefined();
  });

  it('refuses the file system root', async () => {
    await expect(guardScratchRoot('/', [])).rejects.toThrow(ScratchError);
    await expect(guardScratchRoot('/', [])).rejects.toThrow(
      'scratch root / is the file system root',
    );
  });

  it('refuses the home folder', async () => {
    await expect(guardScratchRoot(os.homedir(), [])).rejects.toThrow(
      `scratch root ${os.homedir()} is the home folder`,
    );
  });

  it('refuses a root equal to a source path', async () => {
    await expect(guardScratchRoot(backups, [backups])).rejects.toThrow(
      `scratch root ${backups} is the same folder as the source path ${backups}`,
    );
  });

  it('refuses a root inside a source path', async () => {
    const inside = path.join(backups, 'scratch');
    await expect(guardScratchRoot(inside, [backups])).rejects.toThrow(
      `scratch root ${inside} is inside the source path ${backups}`,
    );
  });

  it('refuses a root that contains a source path', async () => {
    const outer = path.join(base, 'backups');
    await expect(guardScratchRoot(outer, ['/elsewhere', backups])).rejects.toThrow(
      `scratch root ${outer} contains the source path ${backups}`,
    );
  });

  it('sees through a symlink into a source path', async () => {
    const link = path.join(base, 'innocent-looking');
    await symlink(backups, link);
    await expect(guardScratchRoot(path.join(link, 'scratch'), [backups])).rejects.toThrow(
      `scratch root ${path.join(link, 'scratch')} is inside the source path ${backups}`,
    );
  });
});

describe('guardConfigScratchRoot', () => {
  it("checks scratch.root, relative to the config's folder, against every drill's source paths", async () => {
    const base = await tempDir('restore-drill-guard-config-');
    await mkdir(path.join(base, 'backups', 'db'), { recursive: true });
    const config = {
      scratch: { root: 'backups/db/scratch', keep: 'never' as const },
      drills: [
        { source: { kind: 'directory', path: 'elsewhere/*', select: 'latest' } },
        { source: { kind: 'tar', path: 'backups/db/*.tar', select: 'latest' } },
      ],
    } as unknown as Parameters<typeof guardConfigScratchRoot>[0];
    await expect(guardConfigScratchRoot(config, base)).rejects.toThrow(
      `scratch root ${path.join(base, 'backups/db/scratch')} is inside the source path ${path.join(base, 'backups/db')}`,
    );
    await expect(
      guardConfigScratchRoot(
        { ...config, scratch: { root: 'scratch', keep: 'never', keepFor: 0 } },
        base,
      ),
    ).resolves.toBe(path.join(base, 'scratch'));
  });
});

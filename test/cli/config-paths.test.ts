import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createScratchDir } from '../../src/scratch/scratch-dir.js';
import { cli } from '../helpers/cli.js';
import { makeDirectorySet } from '../helpers/drill-fixture.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { tempDir } from '../helpers/temp.js';
import { createTestDatabase } from '../helpers/test-database.js';

/** A one-drill config over `backups/files/*`, written into `dir`. */
async function writeConfig(dir: string, lines: readonly string[]): Promise<string> {
  const file = path.join(dir, 'restore-drill.yaml');
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

describe('paths with ~, sample sizes and how long kept scratch folders stay', () => {
  let url: string;
  beforeAll(async () => {
    url = await createTestDatabase();
  }, SLOW_STORE_MS);

  it('expands ~ in scratch.root, source paths and --config=~/…, never making a folder named ~', async () => {
    const home = await tempDir('restore-drill-home-');
    const configDir = path.join(home, 'etc');
    await mkdir(configDir);
    await makeDirectorySet(path.join(home, 'backups'), 'files');
    await writeConfig(configDir, [
      `database: { url: '${url}' }`,
      'scratch: { root: ~/rd, keep: always }',
      'drills:',
      '  - name: files',
      '    source: { kind: directory, path: ~/backups/files/* }',
      '    checks: { files: { min: 1 } }',
    ]);
    const result = await cli(['run', '--config=~/etc/restore-drill.yaml', '--json'], {
      env: { HOME: home },
      cwd: configDir,
    });
    expect(result.stderr).not.toContain('error');
    expect(result.exitCode).toBe(0);
    expect(await readdir(configDir)).toEqual(['restore-drill.yaml']);
    expect(await readdir(path.join(home, 'rd'))).toEqual([expect.stringMatching(/^files-/)]);
  });

  it('refuses ~user/ in a config path and on the command line, naming the field', async () => {
    const dir = await tempDir('restore-drill-tilde-user-');
    const config = await writeConfig(dir, [
      'scratch: { root: ~nobody/rd }',
      'drills:',
      '  - name: files',
      '    source: { kind: tar, path: backups/*.tar }',
    ]);
    const result = await cli(['validate', '--config', config]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim()).toBe(
      `restore-drill: ${config}:1 scratch.root: '~nobody/rd': only '~' and '~/…' (your own home folder) are expanded; write the absolute path`,
    );
    const flag = await cli(['validate', '--config=~nobody/restore-drill.yaml']);
    expect(flag.exitCode).toBe(2);
    expect(flag.stderr).toContain("'~nobody/restore-drill.yaml': only '~' and '~/…'");
  });

  it('refuses sample sizes of 0% and above 100% with one line each naming the field', async () => {
    const dir = await tempDir('restore-drill-sample-size-');
    const config = await writeConfig(dir, [
      'drills:',
      '  - name: none',
      '    source: { kind: tar, path: backups/*.tar }',
      '    sample: { size: 0% }',
      '  - name: too-many',
      '    source: { kind: tar, path: backups/*.tar }',
      '    sample: { size: 150% }',
      '  - name: fine',
      '    source: { kind: tar, path: backups/*.tar }',
      '    sample: { size: 100% }',
    ]);
    const result = await cli(['validate', '--config', config]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      `restore-drill: ${config}:4 drills[0].sample.size: expected a percentage above 0% and at most 100%, e.g. '10%'`,
      `${config}:7 drills[1].sample.size: expected a percentage above 0% and at most 100%, e.g. '10%'`,
    ]);
  });

  it('run removes scratch folders kept longer than scratch.keepFor, and keeps younger ones', async () => {
    const dir = await tempDir('restore-drill-keep-for-');
    const backups = path.join(dir, 'backups');
    const scratch = path.join(dir, 'scratch');
    await makeDirectorySet(backups, 'files');
    const config = await writeConfig(dir, [
      `database: { url: '${url}' }`,
      `scratch: { root: '${scratch}', keep: on-failure, keepFor: 2h }`,
      'drills:',
      '  - name: files',
      `    source: { kind: directory, path: '${backups}/files/*' }`,
      '    checks: { files: { min: 1 } }',
    ]);
    // Partial folders interrupted runs left: one past keepFor, one within it.
    const old = await createScratchDir(scratch, 'files', 'aaaaaaaa-old', {
      now: new Date(Date.now() - 3 * 3_600_000),
    });
    const young = await createScratchDir(scratch, 'files', 'bbbbbbbb-young', {
      now: new Date(Date.now() - 3_600_000),
    });
    const result = await cli(['run', '--config', config, '--json']);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain('removed leftover scratch folder');
    const left = await readdir(scratch);
    expect(left).toEqual([path.basename(young)]);
    expect(left).not.toContain(path.basename(old));
  });
});

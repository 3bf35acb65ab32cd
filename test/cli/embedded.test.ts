import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { run, writeTree } from '../helpers/artefacts.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

describe('restore-drill on the embedded default database', () => {
  it('creates the PGlite store beside the config on first use, and history reads it back', async () => {
    const root = await tempDir('restore-drill-embedded-');
    const set = path.join(root, 'sets', '2026-11-27');
    await writeTree(set, { 'a.txt': 'a\n', 'b/c.txt': 'c\n' });
    await writeFile(
      path.join(set, 'SHA256SUMS'),
      await run('sha256sum', ['a.txt', 'b/c.txt'], set),
    );
    const config = path.join(root, 'restore-drill.yaml');
    await writeFile(
      config,
      `drills:\n  - name: folder\n    source: { kind: directory, path: sets/* }\n    checks: { manifest: { path: SHA256SUMS }, files: { exact: 2 } }\n`,
    );

    const first = await cli(['run', '--config', config, '--json'], { timeoutMs: 50_000 });
    expect(first.exitCode, first.stderr).toBe(0);
    const history = await cli(['history', '--config', config, '--json'], { timeoutMs: 50_000 });
    const runs = (JSON.parse(history.stdout) as { runs: { verdict: string; drill: string }[] })
      .runs;
    expect(runs).toEqual([expect.objectContaining({ drill: 'folder', verdict: 'passed' })]);
    await expect(
      import('node:fs/promises').then((fs) => fs.stat(path.join(root, '.restore-drill', 'pgdata'))),
    ).resolves.toBeTruthy();
  });

  it('keeps the store in database.path when set (a StateDirectory under systemd), and validate says where', async () => {
    const root = await tempDir('restore-drill-embedded-path-');
    const set = path.join(root, 'sets', '2026-11-27');
    await writeTree(set, { 'a.txt': 'a\n' });
    const stateDir = path.join(root, 'var', 'lib', 'restore-drill');
    const config = path.join(root, 'etc', 'restore-drill.yaml');
    await mkdir(path.dirname(config));
    await writeFile(
      config,
      `database: { path: ${stateDir}/evidence }\nscratch: { root: ${root}/scratch }\ndrills:\n  - name: folder\n    source: { kind: directory, path: ../sets/* }\n    checks: { files: { exact: 1 } }\n`,
    );

    const validated = await cli(['validate', '--config', config]);
    expect(validated.stdout).toContain(`database: embedded PGlite in ${stateDir}/evidence`);
    const first = await cli(['run', '--config', config, '--json'], { timeoutMs: 50_000 });
    expect(first.exitCode, first.stderr).toBe(0);
    const history = await cli(['history', '--config', config, '--json'], { timeoutMs: 50_000 });
    expect(JSON.parse(history.stdout)).toMatchObject({
      runs: [{ drill: 'folder', verdict: 'passed' }],
    });
    expect((await stat(path.join(stateDir, 'evidence', 'pgdata'))).isDirectory()).toBe(true);
    await expect(stat(path.join(root, 'etc', '.restore-drill'))).rejects.toThrow(/ENOENT/);
  });
});

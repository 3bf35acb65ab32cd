import { copyFile, mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { runCommand } from '../../src/exec/run-command.js';
import { copyTreeSync } from '../helpers/artefacts.js';
import { pgliteTemplate } from '../helpers/pglite-template.js';
import { tempDir } from '../helpers/temp.js';

const projectRoot = fileURLToPath(new URL('../../', import.meta.url));

/**
 * A package folder of its own for `npm start`, so the demo's samples and evidence never
 * land in the checkout: the built code and packages are linked, the example config copied.
 * The embedded database starts as a copy of the run's new-store PGlite folder (initdb
 * costs seconds per process under load); the CLI still opens it itself.
 */
async function demoPackage(): Promise<string> {
  const root = await tempDir('rd-demo-');
  for (const entry of ['dist', 'node_modules', 'package.json'])
    await symlink(path.join(projectRoot, entry), path.join(root, entry));
  await mkdir(path.join(root, 'config'));
  await copyFile(
    path.join(projectRoot, 'config', 'restore-drill.yaml'),
    path.join(root, 'config', 'restore-drill.yaml'),
  );
  const template = await pgliteTemplate(inject('pgliteTemplateRoot'));
  copyTreeSync(template, path.join(root, 'config', '.restore-drill', 'pgdata'));
  return root;
}

describe('npm start (the demo)', () => {
  it('tells the story in short human lines when piped, and its last line works as printed', async () => {
    const root = await demoPackage();
    // Piped, as in `npm start 2>&1 | cat` or a CI log: no terminal on either stream.
    const demo = await runCommand(
      process.execPath,
      ['--preserve-symlinks', '--preserve-symlinks-main', path.join(root, 'dist/scripts/demo.js')],
      {
        keepStdout: true,
        timeoutMs: 50_000,
        cwd: root,
        env: { INIT_CWD: root, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      },
    );
    const output = `${demo.stdout}\n${demo.stderrTail}`;
    expect(demo.exitCode, output).toBe(0);
    expect(output).not.toMatch(/^\{"level"/m);
    expect(demo.stderrTail).toMatch(/INFO: fileserver-nightly: drill started/);
    expect(demo.stdout).toMatch(/^PASS {4}fileserver-nightly /m);
    expect(demo.stdout).toMatch(/^PASS {4}uploads-weekly /m);
    expect(demo.stdout).toMatch(/^FAIL {4}fileserver-damaged /m);
    expect(demo.stdout).toContain('changed: docs/2026-11-26-file-003.dat (expected sha256');
    expect(demo.stdout).toContain('As intended: the healthy backups passed');

    const lastLine = demo.stdout.trimEnd().split('\n').at(-1) ?? '';
    const printed = /^Evidence: (.+)$/.exec(lastLine)?.[1];
    expect(printed, lastLine).toBeDefined();
    const [command, ...args] = printed!.split(' ');
    expect(command).toBe('node');
    const history = await runCommand(process.execPath, args, {
      keepStdout: true,
      timeoutMs: 50_000,
      cwd: root,
    });
    expect(history.exitCode, history.stderrTail).toBe(0);
    const lines = history.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/FAIL +fileserver-damaged/);
  }, 60_000);
});

import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { run, writeTree } from '../helpers/artefacts.js';
import { cli } from '../helpers/cli.js';
import { flipMiddle } from '../helpers/pg-dumps.js';
import { tempDir } from '../helpers/temp.js';
import { createTestDatabase } from '../helpers/test-database.js';

interface Run {
  runId: string;
  verdict: string;
  cause: string | null;
  checks: {
    name: string;
    verdict: string;
    detail: string;
    findings?: { item: string; problem: string; actual?: unknown }[];
  }[];
  restored: { files: number; bytes: number };
}

let root: string;
let config: string;

const files: Record<string, string | Buffer> = {
  'docs/a.txt': 'alpha\n',
  // Incompressible, so flipped bytes land in deflate data and gzip notices.
  'data/blob.bin': Buffer.from(Array.from({ length: 400_000 }, (_, i) => (i * 2654435761) >>> 24)),
  'mail/c.eml': 'charlie\n'.repeat(200),
};

/** A .tar.gz set made by the system tar with a SHA256SUMS inside; `drop` leaves a file out after summing. */
async function makeSet(dir: string, name: string, drop?: string): Promise<string> {
  const staging = path.join(root, 'staging', `${path.basename(dir)}-${name}`);
  await writeTree(staging, files);
  await writeFile(
    path.join(staging, 'SHA256SUMS'),
    await run('sha256sum', Object.keys(files).sort(), staging),
  );
  if (drop) await rm(path.join(staging, drop));
  await mkdir(dir, { recursive: true });
  const archive = path.join(dir, `${name}.tar.gz`);
  await run('tar', ['-czf', archive, '-C', staging, '.']);
  return archive;
}

async function runDrill(
  drill: string,
): Promise<{ exitCode: number | null; run: Run; stderr: string }> {
  const result = await cli(['run', '--config', config, '--drill', drill, '--json'], {
    timeoutMs: 50_000,
  });
  return {
    exitCode: result.exitCode,
    run: (JSON.parse(result.stdout) as { runs: Run[] }).runs[0]!,
    stderr: result.stderr,
  };
}

beforeAll(async () => {
  root = await tempDir('restore-drill-command-drill-');
  await makeSet(path.join(root, 'good'), '2026-11-27');
  await flipMiddle(await makeSet(path.join(root, 'corrupt'), '2026-11-27'), 64);
  await makeSet(path.join(root, 'lossy'), '2026-11-27', 'mail/c.eml');
  config = path.join(root, 'restore-drill.yaml');
  const drill = (name: string, folder: string) => `  - name: ${name}
    source:
      kind: command
      sets: { path: ${folder}/*.tar.gz }
      restore: [tar, -xzf, "{set}", -C, "{scratch}"]
      timeout: 2m
    checks:
      manifest: { path: SHA256SUMS }
      files: { exact: 3 }
`;
  await writeFile(
    config,
    `database:\n  url: ${await createTestDatabase()}\nscratch:\n  root: scratch\ndrills:\n${drill('cmd-good', 'good')}${drill('cmd-corrupt', 'corrupt')}${drill('cmd-lossy', 'lossy')}`,
  );
});

describe('command drills end to end', () => {
  it('passes when the real tar restores a good set through the command source', async () => {
    const { exitCode, run: result, stderr } = await runDrill('cmd-good');
    expect(exitCode, stderr).toBe(0);
    expect(result.verdict).toBe('passed');
    expect(result.restored.files).toBe(4);
    const show = await cli(['show', result.runId, '--config', config, '--json']);
    const record = JSON.parse(show.stdout) as { commands: { command: string; exitCode: number }[] };
    expect(record.commands).toEqual([
      expect.objectContaining({
        exitCode: 0,
        command: expect.stringMatching(/^tar -xzf .*good\/2026-11-27\.tar\.gz -C /),
      }),
    ]);
  });

  it('fails naming the restore command and its exit when the archive is corrupted', async () => {
    const { exitCode, run: result } = await runDrill('cmd-corrupt');
    expect(exitCode).toBe(1);
    expect(result.verdict).toBe('failed');
    expect(result.cause).toMatch(
      /^restore\.damaged: restore: backup damaged: restore command tar exit code 2: .* in .*; restored \d+ files? before it$/,
    );
    const restore = result.checks.find((check) => check.name === 'restore');
    expect(restore?.findings?.[0]).toMatchObject({
      item: expect.stringMatching(/corrupt/) as unknown,
      problem: 'damaged',
      actual: expect.stringMatching(/^restore command tar exit code 2: /) as unknown,
    });
    const show = await cli(['show', result.runId, '--config', config, '--json']);
    const shown = JSON.parse(show.stdout) as { commands: { exitCode: number | null }[] };
    expect(shown.commands.map((command) => command.exitCode)).toEqual([2]);
    const text = await cli(['show', result.runId, '--config', config]);
    expect(text.stdout).toMatch(/^command: {4}tar -xzf .* → exit code 2: .+ \(\d+ ms\)$/m);
  });

  it('fails naming the file missing from the set', async () => {
    const { run: result } = await runDrill('cmd-lossy');
    expect(result.verdict).toBe('failed');
    const manifest = result.checks.find((check) => check.name === 'manifest');
    expect(manifest?.findings).toEqual([
      expect.objectContaining({ item: 'mail/c.eml', problem: 'missing' }),
    ]);
    expect(result.checks.find((check) => check.name === 'files')?.verdict).toBe('failed');
  });
});

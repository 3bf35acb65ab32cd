import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { run, writeTree } from '../helpers/artefacts.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';
import { createTestDatabase } from '../helpers/test-database.js';

interface Shown {
  runId: string;
  verdict: string;
  trigger: string;
  replayOf: string | null;
  set: { id: string; path: string };
  sample: { seed: string; totalItems: number | null; selectedItems: number; items: string[] };
  items: { path: string; size: number; sha256: string | null }[];
}

let root: string;
let config: string;

async function makeSet(name: string): Promise<void> {
  const staging = path.join(root, 'staging', name);
  const files: Record<string, string> = {};
  // Sizes over several decades, so the stratified draw has strata to go round.
  for (let i = 0; i < 20; i++)
    files[`f/${String(i).padStart(2, '0')}.txt`] = 'x'.repeat(10 ** (1 + (i % 4)) + i);
  await writeTree(staging, files);
  await writeFile(
    path.join(staging, 'SHA256SUMS'),
    await run('sha256sum', Object.keys(files).sort(), staging),
  );
  await mkdir(path.join(root, 'sets'), { recursive: true });
  await run('tar', ['-czf', path.join(root, 'sets', `${name}.tar.gz`), '-C', staging, '.']);
}

async function runJson(args: string[]): Promise<{ runId: string; verdict: string }> {
  const result = await cli(['run', '--config', config, '--drill', 'sampled', '--json', ...args]);
  expect(result.exitCode, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { runs: { runId: string; verdict: string }[] }).runs[0]!;
}

async function show(runId: string): Promise<Shown> {
  const result = await cli(['show', runId, '--items', '--config', config, '--json']);
  expect(result.exitCode, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Shown;
}

beforeAll(async () => {
  root = await tempDir('restore-drill-replay-');
  await makeSet('2026-11-26');
  config = path.join(root, 'restore-drill.yaml');
  await writeFile(
    config,
    `database:\n  url: ${await createTestDatabase()}\nscratch:\n  root: scratch\ndrills:\n  - name: sampled\n    source: { kind: tar, path: sets/*.tar.gz }\n    sample: { size: 30% }\n    checks: { manifest: { path: SHA256SUMS } }\n`,
  );
});

describe('run --replay', () => {
  it('restores exactly the set, items and seed of the original run of a 30% sample, even after a newer set arrived', async () => {
    const original = await show((await runJson([])).runId);
    expect(original.verdict).toBe('passed');
    expect(original.sample.totalItems).toBe(20);
    expect(original.sample.selectedItems).toBe(6);
    const sampled = original.items.map((item) => item.path).filter((p) => p !== 'SHA256SUMS');
    expect(sampled).toHaveLength(6);

    // `latest` would now pick this set; the replay must not.
    await makeSet('2026-11-27');
    const replay = await show((await runJson(['--replay', original.runId])).runId);
    expect(replay).toMatchObject({
      verdict: 'passed',
      trigger: 'replay',
      replayOf: original.runId,
    });
    expect(replay.set.id).toBe(original.set.id);
    expect(replay.sample.seed).toBe(original.sample.seed);
    expect(replay.items).toEqual(original.items);

    // A new run draws anew from the newer set, with a seed of its own.
    const fresh = await show((await runJson([])).runId);
    expect(fresh.set.id).not.toBe(original.set.id);
    expect(fresh.sample.seed).not.toBe(original.sample.seed);
  });

  it('refuses to replay an unknown run', async () => {
    const unknown = await cli([
      'run',
      '--config',
      config,
      '--drill',
      'sampled',
      '--replay',
      'ffffffff-0000-0000-0000-000000000000',
    ]);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain(
      "no run 'ffffffff-0000-0000-0000-000000000000' in the evidence database",
    );
  });
});

import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.js';
import { tempDir } from '../helpers/temp.js';
import { createTestDatabase } from '../helpers/test-database.js';

/** Keys S3 accepts that a terminal must never see raw: a newline, an escape, a DEL, a tab. */
const ODD_KEYS: Record<string, string> = {
  'nl\nname.txt': 'nl\\nname.txt',
  'esc\x1b[31mred.txt': 'esc\\x1b[31mred.txt',
  'del\x7fname.txt': 'del\\x7fname.txt',
  'tab\tname.txt': 'tab\\tname.txt',
  'plain.txt': 'plain.txt',
};

/** Raw control characters (C0, DEL): none may reach a human's screen from a key. */
const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/; // eslint-disable-line no-control-regex

let server: S3TestServer;
let root: string;
let configFile: string;
let dbUrl: string;

beforeAll(async () => {
  root = await tempDir('restore-drill-s3-odd-keys-');
  dbUrl = await createTestDatabase();
  server = await startS3Server();
  await server.createBucket('odd-keys');
  for (const key of Object.keys(ODD_KEYS))
    await server.put('odd-keys', `nightly/2026-12-01/${key}`, Buffer.from(`content of ${key}`));
  configFile = path.join(root, 'restore-drill.yaml');
  await writeFile(
    configFile,
    `database:
  url: \${env:RD_TEST_DB_URL}
scratch:
  root: scratch
  keep: always
drills:
  - name: odd-keys
    source:
      kind: s3
      bucket: odd-keys
      prefix: nightly/
      endpoint: ${server.endpoint}
      forcePathStyle: true
      layout: prefixes
      credentials: { accessKeyId: S3RVER, secretAccessKey: S3RVER }
`,
  );
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

describe('S3 keys with control characters', () => {
  it('restores them byte-exact, records them escaped, and never prints one raw', async () => {
    const env = { RD_TEST_DB_URL: dbUrl };
    const run = await cli(['run', '--config', configFile], { env });
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^PASS {4}odd-keys .*\(5 files/m);
    expect(run.stdout).not.toMatch(RAW_CONTROL);
    const runId = /run ([0-9a-f]{8})\)/.exec(run.stdout)?.[1];
    expect(runId).toBeDefined();

    // The evidence holds every key's escaped form, the one reversible form of docs/file-names.md.
    const shown = await cli(['show', runId!, '--items', '--json', '--config', configFile], { env });
    expect(shown.exitCode, shown.stderr).toBe(0);
    const items = (JSON.parse(shown.stdout) as { items: { path: string }[] }).items;
    expect(items.map((item) => item.path).sort()).toEqual(Object.values(ODD_KEYS).sort());

    const human = await cli(['show', runId!, '--items', '--all', '--config', configFile], { env });
    expect(human.exitCode, human.stderr).toBe(0);
    expect(human.stdout).toContain('esc\\x1b[31mred.txt');
    expect(human.stdout).not.toMatch(RAW_CONTROL);

    // In scratch (kept), each file has the key's own bytes as its name, and its content.
    const [kept] = await readdir(path.join(root, 'scratch'));
    const setDir = path.join(root, 'scratch', kept!);
    const names = (await readdir(setDir, { encoding: 'buffer' })).map((name) =>
      name.toString('utf8'),
    );
    expect(names.sort()).toEqual(Object.keys(ODD_KEYS).sort());
    for (const key of Object.keys(ODD_KEYS))
      expect(await readFile(path.join(setDir, key), 'utf8')).toBe(`content of ${key}`);
  }, 60_000);
});

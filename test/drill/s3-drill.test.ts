import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type LoadedConfig } from '../../src/config/load.js';
import { runDrill } from '../../src/drill/run-drill.js';
import type { EvidenceStore } from '../../src/evidence/open-store.js';
import { getRun, listRunItems } from '../../src/evidence/runs.js';
import { silentLogger } from '../../src/log/logger.js';
import { postgresEngine, type StorePlace } from '../helpers/evidence-engines.js';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.AWS_EC2_METADATA_DISABLED = 'true';

const log = silentLogger();
const SECRET = 'drill-secret-7a6b5c4d';
let server: S3TestServer;
let place: StorePlace;
let store: EvidenceStore;
let root: string;

function load(prefix: string): LoadedConfig {
  const yaml = [
    'scratch:',
    `  root: ${path.join(root, 'scratch')}`,
    'drills:',
    '  - name: s3-nightly',
    '    source:',
    '      kind: s3',
    '      bucket: drills',
    `      prefix: ${prefix}`,
    '      endpoint: ${env:S3_ENDPOINT}',
    '      forcePathStyle: true',
    '      layout: prefixes',
    '      select: latest',
    '      credentials:',
    '        accessKeyId: S3RVER',
    '        secretAccessKey: ${env:S3_SECRET}',
    '      checksums: { request: WHEN_REQUIRED, response: WHEN_REQUIRED }',
    '    checks:',
    '      files: { exact: 3 }',
  ].join('\n');
  // s3rver checks the access key id only, so any secret passes; this one must never show up in evidence.
  return parseConfig(
    yaml,
    path.join(root, 'restore-drill.yaml'),
    { S3_ENDPOINT: server.endpoint, S3_SECRET: SECRET },
    root,
  );
}

async function drill(prefix: string) {
  const loaded = load(prefix);
  const drillConfig = loaded.config.drills[0];
  if (!drillConfig) throw new Error('no drill');
  const result = await runDrill({
    drill: drillConfig,
    config: loaded.config,
    configDir: loaded.dir,
    db: store.db,
    log,
    trigger: 'manual',
  });
  if (result.status !== 'finished') throw new Error('drill did not run');
  return result.record;
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'restore-drill-s3-drill-'));
  server = await startS3Server();
  await server.createBucket('drills');
  for (const prefix of ['good/', 'bad/']) {
    for (const day of ['2026-11-25', '2026-11-26']) {
      for (const [name, size] of [
        ['db.dump', 120_000],
        ['files/a.txt', 500],
        ['files/b.bin', 9_000],
      ] as const) {
        await server.put('drills', `${prefix}${day}/${name}`, randomBytes(size));
      }
    }
  }
  place = await postgresEngine.prepare();
  store = await place.open();
});

afterAll(async () => {
  await store?.close();
  await place?.cleanup();
  await server?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('a drill with an s3 source', () => {
  it('passes on intact data and records what S3 verified', async () => {
    const record = await drill('good/');
    expect(record.verdict).toBe('passed');
    expect(record.cause).toBeNull();
    expect(record.set).toMatchObject({
      id: 'good/2026-11-26/',
      path: 's3://drills/good/2026-11-26/',
    });
    expect(record.restored.files).toBe(3);
    const integrity = record.checks.find((check) => check.name === 's3-integrity');
    expect(integrity).toMatchObject({
      verdict: 'passed',
      actual: { verified: 3, by: { md5: 3 }, unverifiable: 0 },
    });
    const stored = await getRun(store.db, record.runId);
    expect(stored?.record.verdict).toBe('passed');
    expect((await listRunItems(store.db, record.runId)).map((item) => item.path).sort()).toEqual([
      'db.dump',
      'files/a.txt',
      'files/b.bin',
    ]);
    expect(JSON.stringify(stored)).not.toContain(SECRET);
    // Scratch is removed after a passing run.
    expect(await readdir(path.join(root, 'scratch')).catch(() => [])).toEqual([]);
  });

  it('fails naming the key of an object corrupted at rest', async () => {
    const key = 'bad/2026-11-26/files/b.bin';
    await server.corrupt('drills', key, randomBytes(9_000));
    const record = await drill('bad/');
    expect(record.verdict).toBe('failed');
    expect(record.cause).toContain('s3-integrity');
    expect(record.cause).toContain(key);
    const integrity = record.checks.find((check) => check.name === 's3-integrity');
    expect(integrity?.findings).toMatchObject([{ item: key, problem: 'md5-mismatch' }]);
    expect((await getRun(store.db, record.runId))?.record.verdict).toBe('failed');
  });
});

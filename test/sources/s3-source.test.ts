import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { redactor } from '../../src/model/redact.js';
import { silentLogger } from '../../src/log/logger.js';
import { sourceConfigSchema, sourceKindNames } from '../../src/sources/config-registry.js';
import { type RestoreOutcome, type RestoreSource } from '../../src/sources/restore-source.js';
import { SourceError, type BackupSet } from '../../src/model/restore.js';
import { createS3ObjectStore, type S3ObjectStore } from '../../src/sources/s3-object-store.js';
import { createS3Source, s3SourceKind, S3_INTEGRITY_CHECK } from '../../src/sources/s3-source.js';
import { s3SourceConfigSchema, type S3SourceConfig } from '../../src/sources/s3-source-config.js';
import { selectSet } from '../../src/sources/set-selection.js';
import {
  passAll,
  startFlakyProxy,
  type FlakyProxy,
  type ProxyRule,
} from '../helpers/flaky-proxy.js';
import { awsEtag, awsLikeMultipart, compositeCrc32 } from '../helpers/aws-multipart.js';
import { S3RVER_CREDENTIALS, startS3Server, type S3TestServer } from '../helpers/s3-server.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
// The default credential chain must never reach for an instance-metadata address.
process.env.AWS_EC2_METADATA_DISABLED = 'true';

const BUCKET = 'backups';
const log = silentLogger();
let server: S3TestServer;
const stores: S3ObjectStore[] = [];
const proxies: FlakyProxy[] = [];
const temps: string[] = [];
/** The bytes uploaded, by key: what every restore is compared with. */
const uploaded = new Map<string, Buffer>();

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
const md5 = (bytes: Buffer): string => createHash('md5').update(bytes).digest('hex');

async function put(key: string, bytes: Buffer, mtime?: Date): Promise<void> {
  await server.put(BUCKET, key, bytes, mtime ? { mtime } : {});
  uploaded.set(key, bytes);
}

/** Puts a prefixes-layout set: `files` relative to `prefix`. */
async function putSet(prefix: string, files: Record<string, number>, mtime?: Date): Promise<void> {
  for (const [rel, size] of Object.entries(files))
    await put(`${prefix}${rel}`, randomBytes(size), mtime);
}

function config(overrides: Record<string, unknown> = {}): S3SourceConfig {
  return s3SourceConfigSchema.parse({
    kind: 's3',
    bucket: BUCKET,
    prefix: 'nightly/',
    endpoint: server.endpoint,
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    checksums: { request: 'WHEN_REQUIRED', response: 'WHEN_REQUIRED' },
    layout: 'prefixes',
    ...overrides,
  });
}

/** A source over the real SDK, optionally through a proxy, with short backoff so retry tests stay fast. */
function source(
  overrides: Record<string, unknown> = {},
  options: { via?: FlakyProxy; pageSize?: number } = {},
): RestoreSource {
  const cfg = config({ ...(options.via ? { endpoint: options.via.endpoint } : {}), ...overrides });
  const store = createS3ObjectStore({
    bucket: cfg.bucket,
    endpoint: cfg.endpoint,
    region: cfg.region,
    forcePathStyle: cfg.forcePathStyle,
    credentials: cfg.credentials,
    checksums: cfg.checksums,
    timeoutMs: cfg.timeout,
    pageSize: options.pageSize,
  });
  stores.push(store);
  return createS3Source(cfg, store, { log, backoff: { baseMs: 5, maxMs: 40 } });
}

async function proxy(rule: ProxyRule = passAll): Promise<FlakyProxy> {
  const started = await startFlakyProxy(server.endpoint, rule);
  proxies.push(started);
  return started;
}

async function scratch(): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'restore-drill-s3-test-'));
  temps.push(root);
  const dir = path.join(root, 'scratch');
  await mkdir(dir);
  return dir;
}

function setFor(id: string, sets: BackupSet[]): BackupSet {
  const found = sets.find((set) => set.id === id);
  if (!found) throw new Error(`no set ${id} in ${sets.map((s) => s.id).join(', ')}`);
  return found;
}

async function restoreSet(
  src: RestoreSource,
  setId: string,
  items: string[] | null = null,
  signal?: AbortSignal,
) {
  const sets = await src.listSets({});
  const set = setFor(setId, sets);
  const dir = await scratch();
  const outcome = await src.restore(set, dir, {
    items: items ? new Set(items) : null,
    log,
    signal,
  });
  return { outcome, dir, set };
}

function integrity(outcome: RestoreOutcome) {
  const check = outcome.checks?.find((c) => c.name === S3_INTEGRITY_CHECK);
  if (!check) throw new Error('no s3-integrity check in the outcome');
  return check;
}

/** Asserts every restored file holds exactly the uploaded bytes of `prefix + path`. */
async function expectRestoredAsUploaded(
  outcome: RestoreOutcome,
  dir: string,
  keyPrefix: string,
): Promise<void> {
  for (const file of outcome.files) {
    const original = uploaded.get(`${keyPrefix}${file.path}`);
    expect(original, file.path).toBeDefined();
    expect(file.sha256).toBe(sha256(original as Buffer));
    expect(file.size).toBe((original as Buffer).length);
    expect(sha256(await readFile(path.join(dir, file.path)))).toBe(file.sha256);
  }
}

async function sourceError(promise: Promise<unknown>): Promise<SourceError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SourceError);
  return error as SourceError;
}

beforeAll(async () => {
  server = await startS3Server();
  await server.createBucket(BUCKET);
  // nightly/: a set per day. 2026-11-24 was re-touched last, so `newest` and `latest` differ.
  const day = (d: string, h = 3, m = 0) =>
    new Date(`${d}T${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:00Z`);
  for (const date of ['2026-11-24', '2026-11-25', '2026-11-26']) {
    await putSet(
      `nightly/${date}/`,
      { 'db.dump': 200_000, 'files/a.txt': 1_000, 'files/b.bin': 30_000 },
      day(date),
    );
  }
  await put('nightly/2026-11-26/files/late.txt', randomBytes(10), day('2026-11-26', 3, 5));
  await put('nightly/2026-11-24/files/a.txt', randomBytes(1_000), day('2026-11-27', 9));
  await put('nightly/README', Buffer.from('not a set in the prefixes layout'));
  await put('elsewhere/2026-11-30/x', Buffer.from('outside the prefix'));
  // archives/: an object per night, plus things that are not sets.
  for (const date of ['2026-11-24', '2026-11-25', '2026-11-26'])
    await put(`archives/db-${date}.tar`, randomBytes(50_000), day(date));
  await put('archives/notes.txt', Buffer.from('not matched by db-*.tar'));
  await put('archives/old/db-2020-01-01.tar', randomBytes(100));
});

afterEach(async () => {
  for (const p of proxies.splice(0)) await p.close();
  for (const dir of temps.splice(0)) await rm(dir, { recursive: true, force: true });
});

afterAll(async () => {
  for (const store of stores) store.destroy();
  await server?.stop();
});

describe('s3 source config', () => {
  it('fills defaults and keeps the given fields', () => {
    const parsed = s3SourceConfigSchema.parse({
      kind: 's3',
      bucket: 'acme-backups',
      layout: 'objects',
    });
    expect(parsed).toMatchObject({
      prefix: '',
      region: 'us-east-1',
      forcePathStyle: false,
      select: 'latest',
      concurrency: 4,
      retries: 4,
      timeout: 60_000,
    });
    expect(parsed.credentials).toBeUndefined();
    expect(
      s3SourceConfigSchema.parse({ kind: 's3', bucket: 'abc', layout: 'prefixes', checksums: {} })
        .checksums,
    ).toEqual({
      request: 'WHEN_SUPPORTED',
      response: 'WHEN_SUPPORTED',
    });
  });

  it.each([
    [{ bucket: 's3://acme/nightly' }, 'bucket'],
    [{ bucket: 'ab' }, 'bucket'],
    [{ endpoint: 'ftp://store:21' }, 'endpoint'],
    [{ endpoint: 'https://key:secret@store.internal' }, 'endpoint'],
    [{ prefix: '/nightly' }, 'prefix'],
    [{ match: 'db-[abc' }, 'match'],
    [{ layout: 'folders' }, 'layout'],
    [{ concurrency: 0 }, 'concurrency'],
    [{ timeout: 'soon' }, 'timeout'],
    [{ credentials: { accessKeyId: 'A' } }, 'credentials'],
    [{ region2: 'eu-west-1' }, ''],
  ])('rejects %j naming the field', (patch, field) => {
    const result = s3SourceConfigSchema.safeParse({
      kind: 's3',
      bucket: 'acme-backups',
      layout: 'objects',
      ...patch,
    });
    expect(result.success).toBe(false);
    const paths = result.error?.issues.map((issue) => issue.path.join('.')) ?? [];
    expect(paths.some((p) => p.startsWith(field))).toBe(true);
  });

  it('describes every config field, nested ones included', () => {
    const undocumented: string[] = [];
    const walk = (
      shape: Record<string, { description?: string; unwrap?: () => unknown }>,
      at: string,
    ) => {
      for (const [key, field] of Object.entries(shape)) {
        if (key === 'kind') continue;
        if (!field.description) undocumented.push(`${at}${key}`);
        let inner: unknown = field;
        while (inner && typeof (inner as { unwrap?: unknown }).unwrap === 'function')
          inner = (inner as { unwrap: () => unknown }).unwrap();
        const nested = (inner as { shape?: Record<string, never> }).shape;
        if (nested) walk(nested, `${at}${key}.`);
      }
    };
    walk(s3SourceConfigSchema.shape as never, '');
    expect(undocumented).toEqual([]);
  });

  it('is a registered source kind', () => {
    expect(sourceKindNames).toContain('s3');
    expect(
      sourceConfigSchema.parse({ kind: 's3', bucket: 'acme-backups', layout: 'prefixes' }),
    ).toMatchObject({ kind: 's3', region: 'us-east-1' });
  });

  it('loads from YAML with the secret from ${env:} and masks it', () => {
    const secret = 'very-secret-key-9f8e7d';
    const yaml = [
      'drills:',
      '  - name: s3-nightly',
      '    source:',
      '      kind: s3',
      '      bucket: acme-backups',
      '      prefix: nightly',
      '      endpoint: https://minio.internal:9000',
      '      forcePathStyle: true',
      '      layout: prefixes',
      '      credentials:',
      '        accessKeyId: ${env:S3_KEY_ID}',
      '        secretAccessKey: ${env:S3_SECRET}',
      '      timeout: 30s',
    ].join('\n');
    const loaded = parseConfig(yaml, 'restore-drill.yaml', {
      S3_KEY_ID: 'AKIAEXAMPLE',
      S3_SECRET: secret,
    });
    const src = loaded.config.drills[0]?.source as S3SourceConfig;
    expect(src.credentials?.secretAccessKey).toBe(secret);
    expect(src.timeout).toBe(30_000);
    expect(redactor.redact(`key ${secret}`)).toBe('key ${env:S3_SECRET}');
  });
});

describe('s3 source: listing sets', () => {
  it('lists each common prefix under the prefix as a set, with the newest time and total size inside it', async () => {
    const sets = await source().listSets({});
    expect(sets.map((s) => s.id).sort()).toEqual([
      'nightly/2026-11-24/',
      'nightly/2026-11-25/',
      'nightly/2026-11-26/',
    ]);
    const set = setFor('nightly/2026-11-26/', sets);
    expect(set.path).toBe('s3://backups/nightly/2026-11-26/');
    expect(set.size).toBe(200_000 + 1_000 + 30_000 + 10);
    expect(set.mtime?.toISOString()).toBe('2026-11-26T03:05:00.000Z');
    expect(set.hash).toBeNull();
    expect(setFor('nightly/2026-11-24/', sets).mtime?.toISOString()).toBe(
      '2026-11-27T09:00:00.000Z',
    );
  });

  it('lists each object directly under the prefix as a set, with its ETag, size and time', async () => {
    const sets = await source({
      layout: 'objects',
      prefix: 'archives',
      match: 'db-*.tar',
    }).listSets({});
    expect(sets.map((s) => s.id).sort()).toEqual([
      'archives/db-2026-11-24.tar',
      'archives/db-2026-11-25.tar',
      'archives/db-2026-11-26.tar',
    ]);
    const set = setFor('archives/db-2026-11-25.tar', sets);
    const bytes = uploaded.get(set.id) as Buffer;
    expect(set).toEqual({
      id: 'archives/db-2026-11-25.tar',
      path: 's3://backups/archives/db-2026-11-25.tar',
      size: bytes.length,
      mtime: new Date('2026-11-25T03:00:00Z'),
      hash: md5(bytes),
    });
  });

  it('keeps only sets whose base name matches the glob', async () => {
    const prefixes = await source({ match: '2026-11-2{5,6}' }).listSets({});
    expect(prefixes.map((s) => s.id).sort()).toEqual([
      'nightly/2026-11-25/',
      'nightly/2026-11-26/',
    ]);
    const objects = await source({ layout: 'objects', prefix: 'archives/' }).listSets({});
    expect(objects.map((s) => s.id)).toContain('archives/notes.txt');
    expect(objects.map((s) => s.id)).not.toContain('archives/old/db-2020-01-01.tar');
  });

  it('follows continuation tokens across listing pages', async () => {
    const via = await proxy();
    const paged = await source({}, { via, pageSize: 2 }).listSets({});
    const whole = await source().listSets({});
    const byId = (sets: BackupSet[]) => [...sets].sort((a, b) => a.id.localeCompare(b.id));
    expect(byId(paged)).toEqual(byId(whole));
    expect(
      via.log.filter((entry) => entry.query.includes('continuation-token')).length,
    ).toBeGreaterThan(0);
  });

  it('lets the drill pick the latest, newest, oldest or a named set', async () => {
    const sets = await source().listSets({});
    const pick = (policy: Parameters<typeof selectSet>[1]) =>
      selectSet(sets, policy, { now: new Date(), random: () => 0, describe: 's3' }).id;
    expect(pick('latest')).toBe('nightly/2026-11-26/');
    expect(pick('newest')).toBe('nightly/2026-11-24/');
    expect(pick('oldest')).toBe('nightly/2026-11-25/');
    expect(pick({ id: '2026-11-25' })).toBe('nightly/2026-11-25/');
  });

  it('lists the items of a set relative to it, or the object by its base name', async () => {
    const src = source();
    const set = setFor('nightly/2026-11-26/', await src.listSets({}));
    const items = await src.listItems(set, {});
    expect(items.sort((a, b) => a.path.localeCompare(b.path))).toEqual([
      { path: 'db.dump', size: 200_000 },
      { path: 'files/a.txt', size: 1_000 },
      { path: 'files/b.bin', size: 30_000 },
      { path: 'files/late.txt', size: 10 },
    ]);
    const archives = source({ layout: 'objects', prefix: 'archives/', match: 'db-*' });
    const archive = setFor('archives/db-2026-11-26.tar', await archives.listSets({}));
    expect(await archives.listItems(archive, {})).toEqual([
      { path: 'db-2026-11-26.tar', size: 50_000 },
    ]);
  });
});

describe('s3 source: restoring', () => {
  it('restores a whole set with hashes equal to the uploaded bytes and the ETags verified', async () => {
    const { outcome, dir } = await restoreSet(source(), 'nightly/2026-11-26/');
    expect(outcome.files.map((f) => f.path)).toEqual([
      'db.dump',
      'files/a.txt',
      'files/b.bin',
      'files/late.txt',
    ]);
    expect(outcome.refused).toEqual([]);
    await expectRestoredAsUploaded(outcome, dir, 'nightly/2026-11-26/');
    const check = integrity(outcome);
    expect(check.verdict).toBe('passed');
    expect(check.actual).toMatchObject({ verified: 4, by: { md5: 4 }, unverifiable: 0 });
    expect(check.detail).toContain('4 of 4 objects match');
  });

  it('restores only the chosen items', async () => {
    const { outcome, dir } = await restoreSet(source(), 'nightly/2026-11-25/', [
      'files/b.bin',
      'db.dump',
    ]);
    expect(outcome.files.map((f) => f.path)).toEqual(['db.dump', 'files/b.bin']);
    await expectRestoredAsUploaded(outcome, dir, 'nightly/2026-11-25/');
    expect(await readdir(path.join(dir, 'files'))).toEqual(['b.bin']);
    expect(integrity(outcome).verdict).toBe('passed');
  });

  it('restores an object-per-set archive under its base name', async () => {
    const src = source({ layout: 'objects', prefix: 'archives/', match: 'db-*.tar' });
    const { outcome, dir } = await restoreSet(src, 'archives/db-2026-11-24.tar');
    expect(outcome.files.map((f) => f.path)).toEqual(['db-2026-11-24.tar']);
    await expectRestoredAsUploaded(outcome, dir, 'archives/');
    expect(integrity(outcome).verdict).toBe('passed');
  });

  it('goes through the registered kind with the standard credential chain when no credentials are given', async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
    try {
      const cfg = config({ credentials: undefined });
      expect(cfg.credentials).toBeUndefined();
      const src = s3SourceKind.create(cfg, { configDir: os.tmpdir(), log });
      const { outcome, dir } = await restoreSet(src, 'nightly/2026-11-24/', ['files/a.txt']);
      await expectRestoredAsUploaded(outcome, dir, 'nightly/2026-11-24/');
    } finally {
      for (const [name, value] of [
        ['AWS_ACCESS_KEY_ID', saved.id],
        ['AWS_SECRET_ACCESS_KEY', saved.secret],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it('downloads at most `concurrency` objects at once', async () => {
    await putSet('wide/set/', { '1': 10, '2': 10, '3': 10, '4': 10, '5': 10, '6': 10 });
    const via = await proxy((request) =>
      request.method === 'GET' && request.key ? { kind: 'pass', delayMs: 80 } : { kind: 'pass' },
    );
    const { outcome } = await restoreSet(
      source({ prefix: 'wide/', concurrency: 2 }, { via }),
      'wide/set/',
    );
    expect(outcome.files).toHaveLength(6);
    expect(via.maxInFlight.GET).toBe(2);
  });

  it('asks for the listed ETag (If-Match) and the stored checksums on every download', async () => {
    const via = await proxy();
    await restoreSet(source({}, { via }), 'nightly/2026-11-25/', ['db.dump']);
    const get = via.log.find(
      (entry) => entry.method === 'GET' && entry.key === 'nightly/2026-11-25/db.dump',
    );
    expect(get?.headers['if-match']).toBe(
      `"${md5(uploaded.get('nightly/2026-11-25/db.dump') as Buffer)}"`,
    );
    expect(get?.headers['x-amz-checksum-mode']).toBe('ENABLED');
  });
});

describe('s3 source: damage and change', () => {
  it('catches an object corrupted at rest, naming the key', async () => {
    await putSet('corrupt/set/', { 'a.bin': 5_000, 'b.bin': 5_000 });
    const damaged = Buffer.from(uploaded.get('corrupt/set/b.bin') as Buffer);
    damaged[2_500] = (damaged[2_500] as number) ^ 0xff;
    await server.corrupt(BUCKET, 'corrupt/set/b.bin', damaged);
    const { outcome } = await restoreSet(source({ prefix: 'corrupt/' }), 'corrupt/set/');
    const check = integrity(outcome);
    expect(check.verdict).toBe('failed');
    expect(check.findings).toEqual([
      {
        item: 'corrupt/set/b.bin',
        problem: 'md5-mismatch',
        expected: `ETag ${md5(uploaded.get('corrupt/set/b.bin') as Buffer)}`,
        actual: `MD5 ${md5(damaged)}`,
      },
    ]);
    expect(check.detail).toContain('corrupt/set/b.bin');
    // The bytes the store served are what landed; its hash says so.
    expect(outcome.files.find((f) => f.path === 'b.bin')?.sha256).toBe(sha256(damaged));
  });

  it('checks a stored SHA-256 and reports one that does not match, naming the key', async () => {
    await putSet('sha/set/', { 'good.bin': 4_000, 'bad.bin': 4_000 });
    const b64 = (key: string) =>
      createHash('sha256')
        .update(uploaded.get(key) as Buffer)
        .digest('base64');
    // s3rver keeps no checksums: the proxy adds what a store that does would send.
    const via = await proxy((request) => {
      if (request.method !== 'GET' || !request.key) return { kind: 'pass' };
      const stored = request.key.endsWith('bad.bin') ? b64('sha/set/good.bin') : b64(request.key);
      return {
        kind: 'pass',
        setHeaders: { 'x-amz-checksum-sha256': stored, 'x-amz-checksum-type': 'FULL_OBJECT' },
      };
    });
    const { outcome } = await restoreSet(source({ prefix: 'sha/' }, { via }), 'sha/set/');
    const check = integrity(outcome);
    expect(check.verdict).toBe('failed');
    expect(check.findings).toEqual([
      {
        item: 'sha/set/bad.bin',
        problem: 'checksum-mismatch',
        expected: `SHA256 ${b64('sha/set/good.bin')} (stored by the store)`,
        actual: `SHA256 ${b64('sha/set/bad.bin')}`,
      },
    ]);
    expect(check.actual).toMatchObject({ by: { md5: 1, sha256: 1 } });
    // The SDK's streaming check fails the read at its end; bytes that contradict the store are not kept.
    expect(outcome.files.map((f) => f.path)).toEqual(['good.bin']);
  });

  it('warns, naming the object, about a multipart ETag whose part sizes the store will not tell', async () => {
    await putSet('multipart/set/', { 'big.bin': 3_000, 'small.bin': 100 });
    const etag = md5(uploaded.get('multipart/set/big.bin') as Buffer);
    // s3rver answers neither GetObjectAttributes nor HEAD with partNumber: the part sizes stay unknown.
    const via = await proxy(() => ({
      kind: 'pass',
      replace: [[etag, `${etag.slice(0, 30)}ab-3`]],
    }));
    const { outcome } = await restoreSet(
      source({ prefix: 'multipart/' }, { via }),
      'multipart/set/',
    );
    const check = integrity(outcome);
    expect(check.verdict).toBe('warning');
    expect(check.actual).toMatchObject({ verified: 1, by: { md5: 1 }, unverifiable: 1 });
    expect(check.findings).toEqual([
      {
        item: 'multipart/set/big.bin',
        problem: 'unverifiable',
        expected: 'an MD5 or multipart ETag, or a checksum the store keeps',
        actual: expect.stringMatching(/^multipart ETag of 3 parts, part sizes unknown/) as unknown,
      },
    ]);
    expect(check.detail).toContain('1 unverifiable, first: multipart/set/big.bin');
    expect(outcome.verification).toEqual({ items: 2, verified: 1 });
    expect(outcome.files.map((f) => f.path)).toEqual(['big.bin', 'small.bin']);
  });

  it('fails the drill naming an object deleted during the restore', async () => {
    await putSet('middel/set/', { a: 100, b: 100, c: 100 });
    const via = await proxy(async (request) => {
      if (request.method === 'GET' && request.key === 'middel/set/a')
        await server.remove(BUCKET, 'middel/set/c');
      return { kind: 'pass' };
    });
    const { outcome } = await restoreSet(
      source({ prefix: 'middel/', concurrency: 1 }, { via }),
      'middel/set/',
    );
    const check = integrity(outcome);
    expect(check.verdict).toBe('failed');
    expect(check.findings).toEqual([
      {
        item: 'middel/set/c',
        problem: 'deleted',
        expected: { etag: md5(uploaded.get('middel/set/c') as Buffer), size: 100 },
        actual: 'gone during the restore (NoSuchKey)',
      },
    ]);
    expect(outcome.files.map((f) => f.path)).toEqual(['a', 'b']);
  });

  it('fails the drill naming an object replaced during the restore', async () => {
    await putSet('midrep/set/', { a: 100, b: 100, c: 100 });
    const replacement = randomBytes(100);
    const via = await proxy(async (request) => {
      if (request.method === 'GET' && request.key === 'midrep/set/a')
        await server.put(BUCKET, 'midrep/set/b', replacement);
      return { kind: 'pass' };
    });
    const { outcome } = await restoreSet(
      source({ prefix: 'midrep/', concurrency: 1 }, { via }),
      'midrep/set/',
    );
    const check = integrity(outcome);
    expect(check.verdict).toBe('failed');
    expect(check.findings).toEqual([
      {
        item: 'midrep/set/b',
        problem: 'changed',
        expected: { etag: md5(uploaded.get('midrep/set/b') as Buffer), size: 100 },
        actual: { etag: md5(replacement), size: 100 },
      },
    ]);
    expect(outcome.files.map((f) => f.path)).toEqual(['a', 'c']);
  });

  it('treats a 412 on If-Match as a replaced object, naming the key', async () => {
    await putSet('p412/set/', { a: 100, b: 100 });
    // S3 answers 412 when the If-Match ETag is stale; s3rver ignores If-Match, so the proxy answers.
    const via = await proxy((request) =>
      request.method === 'GET' && request.key === 'p412/set/b' && request.headers['if-match']
        ? {
            kind: 'error',
            status: 412,
            code: 'PreconditionFailed',
            message: 'At least one of the pre-conditions you specified did not hold',
          }
        : { kind: 'pass' },
    );
    const { outcome } = await restoreSet(source({ prefix: 'p412/' }, { via }), 'p412/set/');
    const check = integrity(outcome);
    expect(check.verdict).toBe('failed');
    expect(check.findings).toMatchObject([
      {
        item: 'p412/set/b',
        problem: 'changed',
        actual: 'replaced during the restore (PreconditionFailed)',
      },
    ]);
  });

  it('refuses, naming the key, a sampled object that is gone by the time of the restore', async () => {
    await putSet('gone-item/set/', { a: 10, b: 10 });
    const src = source({ prefix: 'gone-item/' });
    const set = setFor('gone-item/set/', await src.listSets({}));
    await server.remove(BUCKET, 'gone-item/set/b');
    const outcome = await src.restore(set, await scratch(), { items: new Set(['a', 'b']), log });
    expect(outcome.refused).toEqual([{ entry: 'gone-item/set/b', reason: 'not found in the set' }]);
    expect(outcome.files.map((f) => f.path)).toEqual(['a']);
  });

  it('refuses, naming the key, an object whose path in scratch is taken', async () => {
    await putSet('taken/set/', { 'a.txt': 10, 'b.txt': 10 });
    const src = source({ prefix: 'taken/' });
    const set = setFor('taken/set/', await src.listSets({}));
    const dir = await scratch();
    await mkdir(path.join(dir, 'b.txt'));
    const outcome = await src.restore(set, dir, { items: null, log });
    expect(outcome.files.map((f) => f.path)).toEqual(['a.txt']);
    expect(outcome.refused).toMatchObject([{ entry: 'taken/set/b.txt' }]);
    expect(outcome.refused[0]?.reason).toMatch(/^cannot create file/);
  });

  it('refuses keys that would escape scratch or clash with a folder, and writes nothing outside it', async () => {
    await putSet('unsafe/set/', {
      'ok.txt': 10,
      '..': 10,
      'dir\\..\\evil.txt': 10,
      x: 10,
      'x/y': 10,
    });
    const { outcome, dir } = await restoreSet(source({ prefix: 'unsafe/' }), 'unsafe/set/');
    expect(outcome.refused.map((r) => r.entry).sort()).toEqual([
      'unsafe/set/..',
      // Refused keys are named in the escaped form too, where a backslash is doubled.
      'unsafe/set/dir\\\\..\\\\evil.txt',
      'unsafe/set/x/y',
    ]);
    expect(outcome.refused.find((r) => r.entry === 'unsafe/set/..')?.reason).toContain("'..'");
    expect(outcome.refused.find((r) => r.entry.includes('evil'))?.reason).toContain('backslash');
    expect(outcome.refused.find((r) => r.entry === 'unsafe/set/x/y')?.reason).toContain(
      "folder 'x'",
    );
    expect(outcome.files.map((f) => f.path)).toEqual(['ok.txt', 'x']);
    expect((await readdir(path.dirname(dir))).sort()).toEqual(['scratch']);
    expect((await readdir(dir)).sort()).toEqual(['ok.txt', 'x']);
  });
});

describe('s3 source: a 13 MiB object uploaded in 3 parts', () => {
  const MiB = 1024 * 1024;
  async function putMultipartSet(prefix: string): Promise<Buffer[]> {
    const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(3 * MiB)];
    await server.putMultipart(BUCKET, `${prefix}set/big.tar`, parts);
    uploaded.set(`${prefix}set/big.tar`, Buffer.concat(parts));
    return parts;
  }

  /** Flips one byte of the second part in s3rver's file, leaving its recorded ETag as it was. */
  async function changeInStore(key: string): Promise<Buffer> {
    const changed = Buffer.from(uploaded.get(key) as Buffer);
    changed[5 * MiB + 4_321] = (changed[5 * MiB + 4_321] as number) ^ 0x10;
    await server.corrupt(BUCKET, key, changed);
    return changed;
  }

  it('passes it intact and fails it changed inside the store, as s3rver records it (MD5 ETag)', async () => {
    const parts = await putMultipartSet('mp-s3rver/');
    const key = 'mp-s3rver/set/big.tar';
    // s3rver's own multipart ETag is the MD5 of the whole object.
    const intact = integrity(
      (await restoreSet(source({ prefix: 'mp-s3rver/' }), 'mp-s3rver/set/')).outcome,
    );
    expect(intact.verdict).toBe('passed');
    expect(intact.actual).toMatchObject({ verified: 1, by: { md5: 1 } });
    const changed = await changeInStore(key);
    const { outcome } = await restoreSet(source({ prefix: 'mp-s3rver/' }), 'mp-s3rver/set/');
    expect(integrity(outcome).verdict).toBe('failed');
    expect(integrity(outcome).findings).toEqual([
      {
        item: key,
        problem: 'md5-mismatch',
        expected: `ETag ${md5(Buffer.concat(parts))}`,
        actual: `MD5 ${md5(changed)}`,
      },
    ]);
  });

  it('verifies the multipart ETag and composite CRC32 AWS records, with part sizes from HEAD partNumber', async () => {
    const parts = await putMultipartSet('mp-aws/');
    const key = 'mp-aws/set/big.tar';
    const via = await proxy(awsLikeMultipart(key, parts));
    const { outcome, dir } = await restoreSet(
      source({ prefix: 'mp-aws/' }, { via }),
      'mp-aws/set/',
    );
    const check = integrity(outcome);
    expect(check.verdict).toBe('passed');
    expect(check.actual).toMatchObject({
      verified: 1,
      by: { 'composite-crc32': 1, 'multipart-md5': 1 },
      unverifiable: 0,
    });
    expect(check.detail).toContain('1 by composite CRC32, 1 by multipart ETag');
    const heads = via.log.filter(
      (entry) => entry.method === 'HEAD' && entry.query.includes('partNumber'),
    );
    expect(heads.map((entry) => new URLSearchParams(entry.query).get('partNumber'))).toEqual([
      '1',
      '2',
      '3',
    ]);
    await expectRestoredAsUploaded(outcome, dir, 'mp-aws/set/');
  });

  it('fails it, naming the key, when a byte changed inside the store', async () => {
    const parts = await putMultipartSet('mp-changed/');
    const key = 'mp-changed/set/big.tar';
    const changed = await changeInStore(key);
    const split = [
      changed.subarray(0, 5 * MiB),
      changed.subarray(5 * MiB, 10 * MiB),
      changed.subarray(10 * MiB),
    ];
    const via = await proxy(awsLikeMultipart(key, parts));
    const { outcome } = await restoreSet(
      source({ prefix: 'mp-changed/' }, { via }),
      'mp-changed/set/',
    );
    const check = integrity(outcome);
    expect(check.verdict).toBe('failed');
    expect(check.findings).toEqual([
      {
        item: key,
        problem: 'etag-mismatch',
        expected: `multipart ETag ${awsEtag(parts)}`,
        actual: `multipart ETag ${awsEtag(split)} (MD5 of the parts' MD5s)`,
      },
      {
        item: key,
        problem: 'checksum-mismatch',
        expected: `composite CRC32 ${compositeCrc32(parts)} (stored by the store)`,
        actual: `composite CRC32 ${compositeCrc32(split)}`,
      },
    ]);
    expect(check.detail).toContain(key);
  });

  it('takes the part sizes from GetObjectAttributes when the store answers it', async () => {
    const parts = await putMultipartSet('mp-attrs/');
    const key = 'mp-attrs/set/big.tar';
    const via = await proxy(awsLikeMultipart(key, parts, { attributes: true }));
    const { outcome } = await restoreSet(source({ prefix: 'mp-attrs/' }, { via }), 'mp-attrs/set/');
    expect(integrity(outcome).actual).toMatchObject({
      by: { 'composite-crc32': 1, 'multipart-md5': 1 },
    });
    expect(via.log.some((entry) => entry.query.includes('attributes'))).toBe(true);
    expect(via.log.some((entry) => entry.query.includes('partNumber'))).toBe(false);
  });
});

describe('s3 source: errors that stop the restore', () => {
  it('names a missing bucket', async () => {
    const error = await sourceError(source({ bucket: 'no-such-bucket' }).listSets({}));
    expect(error.message).toBe(
      's3://no-such-bucket/nightly/: bucket does not exist (NoSuchBucket)',
    );
    expect(error.transient).toBe(false);
  });

  it('names an unknown access key without ever showing the secret', async () => {
    const secret = 'wrong-secret-5c4b3a29';
    const error = await sourceError(
      source({ credentials: { accessKeyId: 'NOT-A-KEY', secretAccessKey: secret } }).listSets({}),
    );
    expect(error.message).toBe(
      's3://backups/nightly/: the access key id is not known to the store (InvalidAccessKeyId)',
    );
    expect(JSON.stringify({ message: error.message, stack: error.stack })).not.toContain(secret);
  });

  it.each([
    [
      'SignatureDoesNotMatch',
      403,
      'the secret key does not match the access key id (SignatureDoesNotMatch)',
    ],
    ['AccessDenied', 403, 'access denied (AccessDenied)'],
    ['ExpiredToken', 400, 'the session token has expired (ExpiredToken)'],
  ])('names %s and does not retry it', async (code, status, meaning) => {
    // s3rver does not verify V4 signatures or policies: the proxy answers as S3 would.
    const via = await proxy(() => ({ kind: 'error', status, code }));
    const error = await sourceError(source({}, { via }).listSets({}));
    expect(error.message).toBe(`s3://backups/nightly/: ${meaning}`);
    expect(via.log).toHaveLength(1);
  });

  it("names an error it has no words for by its status, code and the store's own first line", async () => {
    const via = await proxy(() => ({
      kind: 'error',
      status: 400,
      code: 'InvalidArgument',
      message: 'Unsupported header x-amz-foo',
    }));
    const error = await sourceError(source({}, { via }).listSets({}));
    expect(error.message).toBe(
      's3://backups/nightly/: HTTP 400: Unsupported header x-amz-foo (InvalidArgument)',
    );
    expect(via.log).toHaveLength(1);
  });

  it('names an object-per-set archive that is gone before the restore', async () => {
    await put('vanish/db.tar', randomBytes(100));
    const src = source({ layout: 'objects', prefix: 'vanish/' });
    const set = setFor('vanish/db.tar', await src.listSets({}));
    await server.remove(BUCKET, 'vanish/db.tar');
    const error = await sourceError(src.restore(set, await scratch(), { items: null, log }));
    expect(error.message).toBe('s3://backups/vanish/db.tar: object does not exist (NoSuchKey)');
  });

  it('names a prefix set that is gone before the restore', async () => {
    await putSet('vanish2/set/', { a: 10 });
    const src = source({ prefix: 'vanish2/' });
    const set = setFor('vanish2/set/', await src.listSets({}));
    await server.remove(BUCKET, 'vanish2/set/a');
    const error = await sourceError(src.restore(set, await scratch(), { items: null, log }));
    expect(error.message).toBe(
      's3://backups/vanish2/set/: no objects under this prefix (deleted since it was listed?)',
    );
  });

  it('stops promptly when the signal aborts', async () => {
    const via = await proxy((request) =>
      request.method === 'GET' && request.key ? { kind: 'pass', delayMs: 5_000 } : { kind: 'pass' },
    );
    const src = source({}, { via });
    const set = setFor('nightly/2026-11-26/', await src.listSets({}));
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new Error('drill timed out')), 100);
    await expect(
      src.restore(set, await scratch(), { items: null, log, signal: controller.signal }),
    ).rejects.toThrow('drill timed out');
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe('s3 source: a flaky endpoint', () => {
  it('retries 5xx and throttling answers and restores the set', async () => {
    let failures = 0;
    const via = await proxy((request) => {
      if (failures < 3) {
        failures++;
        return { kind: 'error', status: 500, code: 'InternalError' };
      }
      if (
        request.method === 'GET' &&
        request.key === 'nightly/2026-11-25/files/b.bin' &&
        failures < 5
      ) {
        failures++;
        return {
          kind: 'error',
          status: 503,
          code: 'SlowDown',
          message: 'Please reduce your request rate.',
        };
      }
      return request.method === 'GET' && request.seq % 2 === 0
        ? { kind: 'pass', delayMs: 30 }
        : { kind: 'pass' };
    });
    const { outcome, dir } = await restoreSet(source({}, { via }), 'nightly/2026-11-25/');
    expect(outcome.files).toHaveLength(3);
    await expectRestoredAsUploaded(outcome, dir, 'nightly/2026-11-25/');
    expect(integrity(outcome).verdict).toBe('passed');
    expect(via.log.filter((entry) => entry.action === 'error')).toHaveLength(5);
  });

  it('retries a gateway error whose body is not S3 XML', async () => {
    let failures = 0;
    const via = await proxy(() =>
      failures++ < 2
        ? { kind: 'error', status: 502, raw: '<html><body>502 Bad Gateway</body></html>' }
        : { kind: 'pass' },
    );
    const sets = await source({}, { via }).listSets({});
    expect(sets).toHaveLength(3);
    expect(via.log.filter((entry) => entry.action === 'error')).toHaveLength(2);
  });

  it('gives up with a SourceError after the configured retries when the store keeps failing', async () => {
    const via = await proxy(() => ({ kind: 'error', status: 500, code: 'InternalError' }));
    const error = await sourceError(source({ retries: 2 }, { via }).listSets({}));
    expect(error.message).toBe(
      's3://backups/nightly/: the store failed with HTTP 500 (InternalError), after 3 attempts',
    );
    expect(error.transient).toBe(true);
    expect(via.log).toHaveLength(3);
  });

  it('gives up naming the object when its downloads keep failing', async () => {
    const via = await proxy((request) =>
      request.method === 'GET' && request.key === 'nightly/2026-11-26/db.dump'
        ? { kind: 'error', status: 503, code: 'ServiceUnavailable' }
        : { kind: 'pass' },
    );
    const error = await sourceError(
      restoreSet(source({ retries: 1 }, { via }), 'nightly/2026-11-26/'),
    );
    expect(error.message).toBe(
      's3://backups/nightly/2026-11-26/db.dump: the store failed with HTTP 503 (ServiceUnavailable), after 2 attempts',
    );
  });

  it('retries a request that gets no answer within the timeout', async () => {
    let stalled = 0;
    const via = await proxy((request) =>
      request.method === 'GET' && request.key && stalled++ === 0
        ? { kind: 'stall' }
        : { kind: 'pass' },
    );
    const started = Date.now();
    const { outcome, dir } = await restoreSet(
      source({ timeout: '300ms', concurrency: 1 }, { via }),
      'nightly/2026-11-24/',
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(outcome.files).toHaveLength(3);
    await expectRestoredAsUploaded(outcome, dir, 'nightly/2026-11-24/');
  });

  it('fails cleanly when every attempt stalls beyond the timeout', async () => {
    const via = await proxy(() => ({ kind: 'stall' }));
    const started = Date.now();
    const error = await sourceError(source({ timeout: '200ms', retries: 1 }, { via }).listSets({}));
    expect(error.message).toBe(
      's3://backups/nightly/: the store did not answer in time (ETIMEDOUT), after 2 attempts',
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('starts a download over, file and hash, when the body stalls half-way', async () => {
    let stalled = 0;
    const via = await proxy((request) =>
      request.method === 'GET' && request.key === 'nightly/2026-11-24/db.dump' && stalled++ === 0
        ? { kind: 'stall-body', afterBytes: 70_000 }
        : { kind: 'pass' },
    );
    const { outcome, dir } = await restoreSet(
      source({ timeout: '300ms' }, { via }),
      'nightly/2026-11-24/',
      ['db.dump'],
    );
    await expectRestoredAsUploaded(outcome, dir, 'nightly/2026-11-24/');
    expect(outcome.files[0]?.size).toBe(200_000);
    expect(integrity(outcome).verdict).toBe('passed');
    expect(stalled).toBe(2);
  });

  it('starts a download over when the connection is cut mid-body', async () => {
    let cut = 0;
    const via = await proxy((request) =>
      request.method === 'GET' && request.key === 'nightly/2026-11-25/db.dump' && cut++ < 2
        ? { kind: 'reset-body', afterBytes: 50_000 }
        : { kind: 'pass' },
    );
    const { outcome, dir } = await restoreSet(source({}, { via }), 'nightly/2026-11-25/', [
      'db.dump',
    ]);
    await expectRestoredAsUploaded(outcome, dir, 'nightly/2026-11-25/');
    expect(integrity(outcome).verdict).toBe('passed');
    expect(cut).toBe(3);
  });
});

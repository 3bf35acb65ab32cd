import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsLikeMultipart } from '../helpers/aws-multipart.js';
import { cli } from '../helpers/cli.js';
import { startFlakyProxy, type FlakyProxy } from '../helpers/flaky-proxy.js';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.js';
import { tempDir } from '../helpers/temp.js';
import { createTestDatabase } from '../helpers/test-database.js';

interface RunJson {
  runs: {
    drill: string;
    verdict: string;
    cause: string | null;
    checks: {
      name: string;
      verdict: string;
      actual: unknown;
      detail: string;
      findings?: { item: string; problem: string }[];
    }[];
  }[];
}

const MiB = 1024 * 1024;
const BIG_KEY = 'multipart/2026-12-01/big.tar';
let root: string;
let configFile: string;
let dbUrl: string;
let server: S3TestServer;
let aws: FlakyProxy;
let opaque: FlakyProxy;
let parts: Buffer[];

beforeAll(async () => {
  root = await tempDir('restore-drill-s3-verify-');
  dbUrl = await createTestDatabase();
  server = await startS3Server();
  await server.createBucket('drills');
  // A 13 MiB archive uploaded in 3 parts; the proxy answers for it as AWS S3 does.
  parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(3 * MiB)];
  await server.putMultipart('drills', BIG_KEY, parts);
  aws = await startFlakyProxy(server.endpoint, awsLikeMultipart(BIG_KEY, parts));
  // A store whose ETags are neither MD5s nor anything with known parts, and which keeps no checksums.
  const files = { 'db.dump': randomBytes(20_000), 'notes.txt': Buffer.from('nightly\n') };
  const sums = Object.entries(files)
    .map(([name, bytes]) => `${createHash('sha256').update(bytes).digest('hex')}  ${name}\n`)
    .join('');
  for (const [name, bytes] of Object.entries({ ...files, SHA256SUMS: Buffer.from(sums) }))
    await server.put('drills', `opaque/2026-12-01/${name}`, bytes);
  opaque = await startFlakyProxy(server.endpoint);
  opaque.setRule(async (request) => {
    if (request.method === 'HEAD' || request.query.has('attributes'))
      return { kind: 'error', status: 501, code: 'NotImplemented' };
    return { kind: 'pass', replace: await opaqueEtags() };
  });
  const source = (name: string, endpoint: string, prefix: string, extra = '') => `
  - name: ${name}
    source:
      kind: s3
      bucket: drills
      prefix: ${prefix}
      endpoint: ${endpoint}
      forcePathStyle: true
      layout: prefixes
      credentials: { accessKeyId: S3RVER, secretAccessKey: S3RVER }
      checksums: { request: WHEN_REQUIRED, response: WHEN_REQUIRED }${extra}`;
  configFile = path.join(root, 'restore-drill.yaml');
  await writeFile(
    configFile,
    `database:
  url: \${env:RD_TEST_DB_URL}
scratch:
  root: scratch
drills:${source('multipart', aws.endpoint, 'multipart/')}${source('opaque', opaque.endpoint, 'opaque/')}${source(
      'opaque-with-manifest',
      opaque.endpoint,
      'opaque/',
      `
    checks:
      manifest: { format: sha256sum, path: SHA256SUMS }`,
    )}
`,
  );
}, 120_000);

/** Each object's MD5 ETag, as s3rver has it, turned into a multipart one with parts nobody will tell. */
async function opaqueEtags(): Promise<[string, string][]> {
  const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
  const listed = await server.client.send(
    new ListObjectsV2Command({ Bucket: 'drills', Prefix: 'opaque/' }),
  );
  return (listed.Contents ?? []).flatMap((object) => {
    const md5 = object.ETag?.replaceAll('"', '');
    return md5 ? [[md5, `${md5}-2`] as [string, string]] : [];
  });
}

afterAll(async () => {
  await aws?.close();
  await opaque?.close();
  await server?.stop();
});

async function drill(
  name: string,
): Promise<{ exitCode: number | null; run: RunJson['runs'][number] }> {
  const result = await cli(['run', '--config', configFile, '--drill', name, '--json'], {
    env: { RD_TEST_DB_URL: dbUrl },
    cwd: root,
  });
  const [run] = (JSON.parse(result.stdout) as RunJson).runs;
  if (!run) throw new Error(`no run for ${name}: ${result.stderr}`);
  return { exitCode: result.exitCode, run };
}

describe('S3 objects verified through the CLI', () => {
  it('passes a 13 MiB object in 3 parts by its multipart ETag and composite CRC32, and fails it once changed inside the store', async () => {
    const intact = await drill('multipart');
    expect(intact.run.cause).toBeNull();
    expect(intact.run.verdict).toBe('passed');
    expect(intact.exitCode).toBe(0);
    const check = intact.run.checks.find((c) => c.name === 's3-integrity');
    expect(check?.actual).toMatchObject({ by: { 'composite-crc32': 1, 'multipart-md5': 1 } });

    // Changed on s3rver's disk; its recorded ETag (and what the proxy says AWS recorded) stay as they were.
    const changed = Buffer.concat(parts);
    changed[7 * MiB] = (changed[7 * MiB] as number) ^ 0x01;
    await server.corrupt('drills', BIG_KEY, changed);
    const damaged = await drill('multipart');
    expect(damaged.exitCode).toBe(1);
    expect(damaged.run.verdict).toBe('failed');
    expect(damaged.run.cause).toMatch(
      /^check\.failed: s3-integrity: .*multipart\/2026-12-01\/big\.tar/,
    );
    expect(
      damaged.run.checks.find((c) => c.name === 's3-integrity')?.findings?.map((f) => f.problem),
    ).toEqual(['etag-mismatch', 'checksum-mismatch']);
  });

  it('fails a run in which nothing could be verified and no manifest is configured', async () => {
    const { exitCode, run } = await drill('opaque');
    expect(exitCode).toBe(1);
    expect(run.verdict).toBe('failed');
    expect(run.cause).toBe(
      'verify.nothing-verified: nothing could be verified: none of 3 restored items matched a value the store recorded (ETag or checksum) and no manifest is configured',
    );
    const integrity = run.checks.find((c) => c.name === 's3-integrity');
    expect(integrity?.verdict).toBe('warning');
    expect(integrity?.findings?.map((f) => [f.item, f.problem])).toEqual([
      ['opaque/2026-12-01/SHA256SUMS', 'unverifiable'],
      ['opaque/2026-12-01/db.dump', 'unverifiable'],
      ['opaque/2026-12-01/notes.txt', 'unverifiable'],
    ]);
  });

  it('passes the same objects with a warning naming them when a manifest verifies the restore', async () => {
    const { exitCode, run } = await drill('opaque-with-manifest');
    expect(run.cause).toBeNull();
    expect(run.verdict).toBe('passed');
    expect(exitCode).toBe(0);
    expect(run.checks.find((c) => c.name === 's3-integrity')).toMatchObject({
      verdict: 'warning',
      detail: expect.stringContaining(
        '3 unverifiable, first: opaque/2026-12-01/SHA256SUMS',
      ) as unknown,
    });
    expect(run.checks.find((c) => c.name === 'manifest')?.verdict).toBe('passed');
  });
});

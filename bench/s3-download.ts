/**
 * The s3 workload's scripted alternative: a plain AWS SDK download loop. Lists the prefix,
 * downloads every object to a file under OUT, CONCURRENCY at a time (the s3 source's
 * default), checks only that it got EXPECTED objects, then removes OUT.
 *
 *   node s3-download.js ENDPOINT BUCKET PREFIX OUT CONCURRENCY EXPECTED
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';

const argv = process.argv.slice(2);
if (argv.length !== 6)
  throw new Error('usage: s3-download.js ENDPOINT BUCKET PREFIX OUT CONCURRENCY EXPECTED');
const [endpoint, bucket, prefix, out, concurrency, expected] = argv as [
  string,
  string,
  string,
  string,
  string,
  string,
];
const client = new S3Client({
  region: 'us-east-1',
  endpoint,
  forcePathStyle: true,
  // s3rver's key pair; not imported from s3-server.js, whose imports this timed script need not load.
  credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});
try {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
    token = page.NextContinuationToken;
  } while (token);
  if (keys.length !== Number(expected))
    throw new Error(`listed ${keys.length} objects under ${prefix}, expected ${expected}`);
  let next = 0;
  const downloader = async (): Promise<void> => {
    for (let index = next++; index < keys.length; index = next++) {
      const key = keys[index]!;
      const file = path.join(out, key.slice(prefix.length));
      await mkdir(path.dirname(file), { recursive: true });
      const { Body } = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      await pipeline(Body as Readable, createWriteStream(file));
    }
  };
  await Promise.all(Array.from({ length: Number(concurrency) }, downloader));
} finally {
  client.destroy();
  await rm(out, { recursive: true, force: true });
}

import { mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';

import { forkS3rver } from '../../bench/s3-server.js';

/** s3rver accepts this key pair (and, for V4 signatures, any secret with this access key id). */
export { S3RVER_CREDENTIALS } from '../../bench/s3-server.js';

/** A real s3rver on loopback with its files in a temp folder, for one test file. */
export interface S3TestServer {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  /** Where s3rver keeps objects on disk: `<directory>/<bucket>/<key>._S3rver_object`. */
  directory: string;
  /** An SDK client for setting up data (checksums WHEN_REQUIRED: s3rver stores aws-chunked framing otherwise). */
  client: S3Client;
  createBucket(bucket: string): Promise<void>;
  /** Uploads through the SDK; `mtime` sets the object's LastModified (s3rver reports the file's mtime). */
  put(
    bucket: string,
    key: string,
    body: string | Uint8Array,
    options?: { mtime?: Date },
  ): Promise<void>;
  /** Uploads `parts` as one multipart upload (each part but the last must be 5 MiB or more). */
  putMultipart(bucket: string, key: string, parts: readonly Uint8Array[]): Promise<void>;
  remove(bucket: string, key: string): Promise<void>;
  /** Path of the object's bytes on disk, to damage them behind the server's back. */
  objectFile(bucket: string, key: string): string;
  /** Overwrites the stored bytes without updating the stored MD5 (the ETag): corruption at rest. */
  corrupt(bucket: string, key: string, bytes: string | Uint8Array): Promise<void>;
  stop(): Promise<void>;
}

const CHILD = fileURLToPath(new URL('../../bench/s3rver-child.mjs', import.meta.url));

/**
 * s3rver answers a PUT whose body it buffered before its write stream has opened (and truncated)
 * the file and written it, so a time set at once can be overwritten under load. Waits until the
 * file holds every byte, which is the last change s3rver makes to it, then sets its time.
 */
async function setObjectTime(file: string, body: string | Uint8Array, time: Date): Promise<void> {
  const size = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const written = await stat(file).catch(() => undefined);
    if (written?.size === size) {
      await utimes(file, time, time);
      // Confirm after a pause: an empty body is complete before s3rver opens the file.
      await sleep(size === 0 ? 50 : 0);
      if ((await stat(file)).mtimeMs === time.getTime()) return;
    }
    if (Date.now() > deadline) throw new Error(`s3rver did not finish writing ${file} within 10s`);
    await sleep(10);
  }
}

export async function startS3Server(): Promise<S3TestServer> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'restore-drill-s3rver-'));
  const { child, endpoint, client } = await forkS3rver(CHILD, directory, 15_000);
  const objectFile = (bucket: string, key: string): string => {
    const parts = key.split('/');
    const last = parts.pop() as string;
    return path.join(directory, bucket, ...parts, `${last}._S3rver_object`);
  };

  return {
    endpoint,
    directory,
    client,
    async createBucket(bucket) {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    },
    async put(bucket, key, body, options = {}) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
      if (options.mtime) await setObjectTime(objectFile(bucket, key), body, options.mtime);
    },
    async putMultipart(bucket, key, parts) {
      const { UploadId } = await client.send(
        new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }),
      );
      const done: { ETag: string; PartNumber: number }[] = [];
      for (const [index, part] of parts.entries()) {
        const { ETag } = await client.send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: key,
            UploadId,
            PartNumber: index + 1,
            Body: part,
          }),
        );
        done.push({ ETag: ETag ?? '', PartNumber: index + 1 });
      }
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId,
          MultipartUpload: { Parts: done },
        }),
      );
    },
    async remove(bucket, key) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
    objectFile,
    async corrupt(bucket, key, bytes) {
      await writeFile(objectFile(bucket, key), bytes);
    },
    async stop() {
      client.destroy();
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.send('stop');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(directory, { recursive: true, force: true });
    },
  };
}

import { fork, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { excludeFromSamples } from './measure.js';

/** s3rver accepts this key pair. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** From dist/bench: tsc does not copy the .mjs child, so it runs from the checkout's bench/. */
const CHILD = fileURLToPath(new URL('../../bench/s3rver-child.mjs', import.meta.url));
/** Uploads at once while the bench fills the bucket (not timed). */
const UPLOAD_CONCURRENCY = 8;

/** A real s3rver on loopback, in its own process, left out of every command's samples. */
export interface BenchS3Server {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  createBucket(bucket: string): Promise<void>;
  put(bucket: string, key: string, body: string | Uint8Array): Promise<void>;
  /** Uploads `dir`'s files named in `names` (relative, with `/`) as `prefix` + name. */
  upload(bucket: string, prefix: string, dir: string, names: readonly string[]): Promise<void>;
  stop(): Promise<void>;
}

/** Why the s3 workload cannot run here, or null when s3rver (a devDependency) is installed. */
export function s3rverMissing(): string | null {
  try {
    import.meta.resolve('s3rver');
    return null;
  } catch {
    return 's3rver is not installed (a devDependency: npm install without --omit=dev)';
  }
}

/** s3rver started in its own process (`childScript`), on a free loopback port, with an SDK client for it. */
export interface S3rverProcess {
  child: ChildProcess;
  endpoint: string;
  /** Checksums WHEN_REQUIRED: s3rver stores aws-chunked framing otherwise. */
  client: S3Client;
}

/**
 * Forks `childScript` (s3rver, which needs --openssl-legacy-provider for its DES continuation
 * tokens) on `directory` and waits for the port it reports. Shared with the tests' s3 helper.
 */
export async function forkS3rver(
  childScript: string,
  directory: string,
  startMs: number,
): Promise<S3rverProcess> {
  const child = fork(childScript, [directory], {
    execArgv: ['--openssl-legacy-provider'],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`s3rver did not start within ${startMs / 1000}s: ${stderr}`)),
      startMs,
    );
    child.once('message', (message: { port: number }) => {
      clearTimeout(timer);
      resolve(message.port);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with ${code}: ${stderr}`));
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { ...S3RVER_CREDENTIALS },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return { child, endpoint, client };
}

/** Starts s3rver keeping its objects in `directory`. */
export async function startS3Server(directory: string): Promise<BenchS3Server> {
  const { child, endpoint, client } = await forkS3rver(CHILD, directory, 30_000);
  if (child.pid !== undefined) excludeFromSamples(child.pid);
  return {
    endpoint,
    async createBucket(bucket) {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    },
    async put(bucket, key, body) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    async upload(bucket, prefix, dir, names) {
      let next = 0;
      const uploader = async (): Promise<void> => {
        for (let index = next++; index < names.length; index = next++) {
          const name = names[index]!;
          const body = await readFile(path.join(dir, name));
          await client.send(
            new PutObjectCommand({ Bucket: bucket, Key: prefix + name, Body: body }),
          );
        }
      };
      await Promise.all(Array.from({ length: UPLOAD_CONCURRENCY }, uploader));
    },
    async stop() {
      client.destroy();
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      if (child.connected) child.send('stop');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

import { Worker } from 'node:worker_threads';
import { fileNameOf, fsPath } from '../model/file-name.js';
import type { RestoredFile, RestoredLink } from '../model/restore.js';
import { CHUNK_BYTES } from './hashing-writer.js';

/** A job for a hash worker: list one folder, or hash a batch of its regular files. */
type HashJob = { kind: 'list'; dir: Uint8Array } | { kind: 'hash'; files: Uint8Array[] };

/** A folder's entries by kind (names as bytes); links come with their targets. */
interface Listed {
  kind: 'listed';
  dirs: Uint8Array[];
  files: Uint8Array[];
  links: { name: Uint8Array; target: Uint8Array }[];
}
type HashOutcome =
  | Listed
  | { kind: 'hashed'; files: { size: number; sha256: string }[] }
  | { kind: 'failed'; code: string | undefined; message: string }
  | { kind: 'aborted' };

interface WorkerData {
  abort: SharedArrayBuffer;
  chunkBytes: number;
}

/**
 * The worker's body, run from its own source text: it may use only built-ins, taken from
 * `process.getBuiltinModule` (the CLI bundle rewrites a bare `require` into a module import).
 * Synchronous calls on a thread of its own: no promise per system call, the hash off the
 * event loop. Paths are bytes, so any name the file system holds is read as it is.
 */
function hashWorkerMain(): void {
  const { parentPort, workerData } = process.getBuiltinModule('node:worker_threads');
  const fs = process.getBuiltinModule('node:fs');
  const { createHash } = process.getBuiltinModule('node:crypto');
  const data = workerData as WorkerData;
  const aborted = new Int32Array(data.abort);
  const buffer = Buffer.allocUnsafeSlow(data.chunkBytes);
  const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
  const bytes = (path: Uint8Array): Buffer =>
    Buffer.from(path.buffer, path.byteOffset, path.byteLength);
  const slash = Buffer.from('/');

  const list = (dir: Buffer): Listed => {
    const listed: Listed = { kind: 'listed', dirs: [], files: [], links: [] };
    for (const entry of fs.readdirSync(dir, { withFileTypes: true, encoding: 'buffer' })) {
      if (entry.isDirectory()) listed.dirs.push(entry.name);
      else if (entry.isFile()) listed.files.push(Buffer.concat([dir, slash, entry.name]));
      else if (entry.isSymbolicLink()) {
        const target = fs.readlinkSync(Buffer.concat([dir, slash, entry.name]), 'buffer');
        listed.links.push({ name: entry.name, target });
      }
    }
    return listed;
  };

  const hash = (file: Buffer): { size: number; sha256: string } | null => {
    // Never through a link: the listing saw a regular file here.
    const input = fs.openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    try {
      const digest = createHash('sha256');
      let size = 0;
      for (;;) {
        if (Atomics.load(aborted, 0) !== 0) return null;
        const count = fs.readSync(input, buffer, 0, buffer.length, null);
        if (count === 0) break;
        digest.update(buffer.subarray(0, count));
        size += count;
      }
      return { size, sha256: digest.digest('hex') };
    } finally {
      fs.closeSync(input);
    }
  };

  const runOne = (job: HashJob): unknown => {
    if (Atomics.load(aborted, 0) !== 0) return { kind: 'aborted' };
    try {
      if (job.kind === 'list') return list(bytes(job.dir));
      const files: { size: number; sha256: string }[] = [];
      for (const file of job.files) {
        const result = hash(bytes(file));
        if (result === null) return { kind: 'aborted' };
        files.push(result);
      }
      return { kind: 'hashed', files };
    } catch (error) {
      return {
        kind: 'failed',
        code: (error as NodeJS.ErrnoException).code,
        message: (error as Error).message,
      };
    }
  };

  parentPort?.on('message', (message: { id: number; job: HashJob }) => {
    parentPort.postMessage({ id: message.id, outcome: runOne(message.job) });
  });
}

const WORKER_SOURCE = `(${hashWorkerMain.toString()})();`;

/** Files per hash job: enough to make messaging cheap per file, few enough to share the work out evenly. */
const BATCH_FILES = 32;
/** Jobs queued in each worker beyond the one it runs, so it never waits for the next. */
const QUEUED_PER_WORKER = 2;

/**
 * Walks a restored tree in worker threads, never following a symlink: regular files are
 * hashed (SHA-256, 1 MiB reads), symlinks are recorded with their targets as they are
 * (wherever they point); other entries (FIFOs, sockets, devices) are left out. Files and
 * links come sorted by path, in the escaped form of `model/file-name.ts`. Both the walk and
 * the hashing use `threads` threads; an abort stops every one at its next 1 MiB.
 */
export async function hashTree(
  root: string,
  options: { threads: number; signal?: AbortSignal | undefined },
): Promise<{ files: RestoredFile[]; links: RestoredLink[] }> {
  const { signal } = options;
  signal?.throwIfAborted();
  const abort = new SharedArrayBuffer(4);
  const workerData: WorkerData = { abort, chunkBytes: CHUNK_BYTES };
  const files: RestoredFile[] = [];
  const links: RestoredLink[] = [];
  // Jobs waiting for a worker, each with what to do with its outcome.
  const queue: { job: HashJob; done: (outcome: HashOutcome) => void }[] = [];
  const workers = Array.from({ length: Math.max(1, options.threads) }, () => ({
    // No inherited preloads (--require/--import): the body needs only built-ins.
    worker: new Worker(WORKER_SOURCE, { eval: true, workerData, execArgv: [] }),
    running: new Map<number, (outcome: HashOutcome) => void>(),
  }));
  let nextId = 0;
  let outstanding = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      const fail = (error: unknown): void => {
        if (failed) return;
        failed = true;
        Atomics.store(new Int32Array(abort), 0, 1);
        reject(error);
      };
      const onAbort = (): void => fail(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      const pump = (): void => {
        for (const slot of workers) {
          while (queue.length > 0 && slot.running.size <= QUEUED_PER_WORKER) {
            const { job, done } = queue.shift() as (typeof queue)[number];
            const id = nextId++;
            slot.running.set(id, done);
            slot.worker.postMessage({ id, job });
          }
        }
      };
      const submit = (job: HashJob, done: (outcome: HashOutcome) => void): void => {
        outstanding++;
        queue.push({ job, done });
      };
      const visit = (rel: string): void => {
        const dir = fsPath(root, rel);
        submit(
          { kind: 'list', dir: typeof dir === 'string' ? Buffer.from(dir) : dir },
          (outcome) => {
            const listed = outcome as Listed;
            const relOf = (name: Uint8Array): string => {
              const escaped = fileNameOf(
                Buffer.from(name.buffer, name.byteOffset, name.byteLength),
              );
              return rel ? `${rel}/${escaped}` : escaped;
            };
            for (const link of listed.links)
              links.push({
                path: relOf(link.name),
                target: fileNameOf(
                  Buffer.from(link.target.buffer, link.target.byteOffset, link.target.byteLength),
                ),
              });
            for (let start = 0; start < listed.files.length; start += BATCH_FILES) {
              const batch = listed.files.slice(start, start + BATCH_FILES);
              submit({ kind: 'hash', files: batch }, (hashed) => {
                const results = (hashed as Extract<HashOutcome, { kind: 'hashed' }>).files;
                batch.forEach((file, index) => {
                  const name = file.subarray(file.lastIndexOf(0x2f) + 1);
                  const { size, sha256 } = results[index] as { size: number; sha256: string };
                  files.push({ path: relOf(name), size, sha256 });
                });
              });
            }
            for (const name of listed.dirs) visit(relOf(name));
          },
        );
      };
      for (const slot of workers) {
        slot.worker.on('message', (message: { id: number; outcome: HashOutcome }) => {
          const done = slot.running.get(message.id);
          slot.running.delete(message.id);
          if (failed || !done) return;
          const { outcome } = message;
          if (outcome.kind === 'aborted') return fail(signal?.reason ?? new Error('aborted'));
          if (outcome.kind === 'failed')
            return fail(Object.assign(new Error(outcome.message), { code: outcome.code }));
          done(outcome);
          outstanding--;
          if (outstanding === 0) {
            signal?.removeEventListener('abort', onAbort);
            return resolve();
          }
          pump();
        });
        slot.worker.on('error', fail);
        slot.worker.on('exit', (code) => {
          if (slot.running.size > 0) fail(new Error(`hash worker exited with code ${code}`));
        });
      }
      visit('');
      pump();
    });
  } finally {
    await Promise.all(workers.map(({ worker }) => worker.terminate()));
  }
  const byPath = (a: { path: string }, b: { path: string }): number =>
    a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
  files.sort(byPath);
  links.sort(byPath);
  return { files, links };
}

import { Worker } from 'node:worker_threads';
import { CHUNK_BYTES } from './hashing-writer.js';

/**
 * One file for a worker (paths as text, or as bytes for names that are not UTF-8): `copy` reads `source` (a set's file), `write` takes bytes
 * already read (an archive member); either way the worker hashes while it writes `target`.
 */
export type CopyJob =
  | { kind: 'copy'; source: string | Uint8Array; target: string | Uint8Array }
  | { kind: 'write'; target: string | Uint8Array; mode: number; data: Uint8Array[] };

/**
 * How a job in a worker ended. `large` (copies only): left for the caller, who copies
 * big files with the hash on a thread beside the copy. `inode` (copies only, `dev:ino`): the source file has
 * more than one name, so the caller can restore the set's hard links as hard links.
 */
export type CopyResult =
  | { kind: 'copied'; size: number; sha256: string; inode?: string }
  | { kind: 'large'; inode?: string }
  | { kind: 'read-error' | 'write-error'; code: string | undefined; message: string }
  | { kind: 'aborted' };

/** Files above this size are handed back (`large`): they copy faster with the hash beside the copy than in line. */
export const WORKER_MAX_FILE_BYTES = 4 * CHUNK_BYTES;

interface WorkerData {
  abort: SharedArrayBuffer;
  chunkBytes: number;
  maxFileBytes: number;
}

/**
 * The worker's body. It runs in a worker thread from its own source text (see
 * `CopyWorkers`), so it may use nothing from this module: only built-ins, taken from
 * `process.getBuiltinModule` (the CLI bundle rewrites a bare `require` into a module import).
 * Synchronous calls are the point: no promise per system call, and a thread of its own.
 */
function copyWorkerMain(): void {
  const { parentPort, workerData } = process.getBuiltinModule('node:worker_threads');
  const fs = process.getBuiltinModule('node:fs');
  const { createHash } = process.getBuiltinModule('node:crypto');
  const data = workerData as WorkerData;
  const aborted = new Int32Array(data.abort);
  const buffer = Buffer.allocUnsafeSlow(data.chunkBytes);
  const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_WRONLY, O_CREAT, O_TRUNC } = fs.constants;
  // Paths of names that are not UTF-8 arrive as bytes (a Buffer becomes a Uint8Array on the way).
  const pathOf = (file: string | Uint8Array): string | Buffer =>
    typeof file === 'string' ? file : Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const failure = (kind: 'read-error' | 'write-error', error: unknown) => ({
    kind,
    code: (error as NodeJS.ErrnoException).code,
    message: (error as Error).message,
  });

  const writeOne = (job: Extract<CopyJob, { kind: 'write' }>): unknown => {
    let output: number;
    try {
      output = fs.openSync(pathOf(job.target), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, job.mode);
    } catch (error) {
      return failure('write-error', error);
    }
    try {
      const hash = createHash('sha256');
      let size = 0;
      for (const chunk of job.data) {
        hash.update(chunk);
        try {
          for (let offset = 0; offset < chunk.byteLength;)
            offset += fs.writeSync(output, chunk, offset, chunk.byteLength - offset);
        } catch (error) {
          return failure('write-error', error);
        }
        size += chunk.byteLength;
      }
      return { kind: 'copied', size, sha256: hash.digest('hex') };
    } finally {
      fs.closeSync(output);
    }
  };

  const copyOne = (job: CopyJob): unknown => {
    if (Atomics.load(aborted, 0) !== 0) return { kind: 'aborted' };
    if (job.kind === 'write') return writeOne(job);
    let input: number;
    try {
      input = fs.openSync(pathOf(job.source), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (error) {
      return failure('read-error', error);
    }
    try {
      let info;
      try {
        info = fs.fstatSync(input);
      } catch (error) {
        return failure('read-error', error);
      }
      if (!info.isFile())
        return { kind: 'read-error', code: undefined, message: 'no longer a regular file' };
      // A file with several names: the caller links the names of the set together.
      const inode = info.nlink > 1 ? `${info.dev}:${info.ino}` : undefined;
      if (info.size > data.maxFileBytes) return { kind: 'large', inode };
      let output: number;
      try {
        output = fs.openSync(
          pathOf(job.target),
          O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW,
          (info.mode & 0o777) | 0o600,
        );
      } catch (error) {
        return failure('write-error', error);
      }
      try {
        const hash = createHash('sha256');
        let size = 0;
        for (;;) {
          if (Atomics.load(aborted, 0) !== 0) return { kind: 'aborted' };
          let count: number;
          try {
            count = fs.readSync(input, buffer, 0, buffer.length, null);
          } catch (error) {
            return failure('read-error', error);
          }
          if (count === 0) break;
          hash.update(buffer.subarray(0, count));
          try {
            for (let offset = 0; offset < count;)
              offset += fs.writeSync(output, buffer, offset, count - offset);
          } catch (error) {
            return failure('write-error', error);
          }
          size += count;
        }
        return { kind: 'copied', size, sha256: hash.digest('hex'), inode };
      } finally {
        fs.closeSync(output);
      }
    } finally {
      fs.closeSync(input);
    }
  };

  parentPort?.on('message', (batch: { id: number; jobs: CopyJob[]; lent?: ArrayBuffer }) => {
    const results = batch.jobs.map(copyOne);
    // A lent buffer goes back to its owner for the next batch.
    const lent = batch.lent === undefined ? [] : [batch.lent];
    parentPort.postMessage({ id: batch.id, results, lent: batch.lent }, lent);
  });
}

const WORKER_SOURCE = `(${copyWorkerMain.toString()})();`;

/** A worker's answer to one batch: the results in order, and the buffer lent with it. */
interface BatchAnswer {
  id: number;
  results: CopyResult[];
  lent?: ArrayBuffer;
}

interface Pending {
  resolve: (answer: BatchAnswer) => void;
  reject: (error: unknown) => void;
}

/**
 * A few worker threads copying small files synchronously while hashing them: a promise
 * per system call costs more than copying a small file does, and the workers keep the
 * hashing off the event loop. Jobs go in batches; an abort stops every worker at its
 * next chunk. Workers start as batches need them (each thread costs about 10 MB), up to
 * `threads`. Start one per restore and `close()` it.
 */
export class CopyWorkers {
  readonly #workers: { worker: Worker; outstanding: number }[] = [];
  readonly #pending = new Map<number, Pending>();
  readonly #abort = new SharedArrayBuffer(4);
  readonly #workerData: WorkerData;
  #nextId = 0;
  #failure: unknown = null;
  /** How many worker threads may copy at once. */
  readonly threads: number;

  constructor(options: { threads: number }) {
    this.threads = Math.max(1, options.threads);
    this.#workerData = {
      abort: this.#abort,
      chunkBytes: CHUNK_BYTES,
      maxFileBytes: WORKER_MAX_FILE_BYTES,
    };
  }

  /** Worker threads started so far. */
  get started(): number {
    return this.#workers.length;
  }

  #start(): { worker: Worker; outstanding: number } {
    // No inherited preloads (--require/--import): the body needs only built-ins, and a
    // preload file the process cannot read now (it may have dropped privileges) would kill the worker.
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: this.#workerData,
      execArgv: [],
    });
    const slot = { worker, outstanding: 0 };
    worker.on('message', (message: BatchAnswer) => {
      slot.outstanding--;
      const pending = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      pending?.resolve(message);
    });
    worker.on('error', (error) => this.#fail(error));
    worker.on('exit', (code) => {
      if (this.#pending.size > 0) this.#fail(new Error(`copy worker exited with code ${code}`));
    });
    this.#workers.push(slot);
    return slot;
  }

  /** An idle worker, else a new one while fewer than `threads` run, else the least busy. */
  #pick(): { worker: Worker; outstanding: number } {
    const idle = this.#workers.find((candidate) => candidate.outstanding === 0);
    if (idle !== undefined) return idle;
    if (this.#workers.length < this.threads) return this.#start();
    return this.#workers.reduce((best, candidate) =>
      candidate.outstanding < best.outstanding ? candidate : best,
    );
  }

  /** Runs `jobs` in an idle worker (or the least busy); results come in the same order. */
  async run(jobs: CopyJob[]): Promise<CopyResult[]> {
    return (await this.#send(jobs, undefined)).results;
  }

  /**
   * Runs write jobs whose data are views of `buffer`, which moves to the worker without a
   * copy and comes back with the results, for the next batch: bytes written are not left
   * for a garbage collector to find (in another thread's heap, which rarely collects).
   */
  async write(
    jobs: Extract<CopyJob, { kind: 'write' }>[],
    buffer: ArrayBuffer,
  ): Promise<{ results: CopyResult[]; buffer: ArrayBuffer }> {
    const answer = await this.#send(jobs, buffer);
    return { results: answer.results, buffer: answer.lent ?? new ArrayBuffer(0) };
  }

  #send(jobs: CopyJob[], lent: ArrayBuffer | undefined): Promise<BatchAnswer> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    const slot = this.#pick();
    const id = this.#nextId++;
    slot.outstanding++;
    return new Promise<BatchAnswer>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, jobs, lent }, lent === undefined ? [] : [lent]);
    });
  }

  /** Makes every worker stop at its next chunk; jobs not yet copied come back `aborted`. */
  abort(): void {
    Atomics.store(new Int32Array(this.#abort), 0, 1);
  }

  /** Stops the workers (after their current batch when `abort()` was called). */
  async close(): Promise<void> {
    await Promise.all(this.#workers.map(({ worker }) => worker.terminate()));
  }

  #fail(error: unknown): void {
    this.#failure ??= error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}

import { Worker } from 'node:worker_threads';

type HashRequest =
  | { op: 'update'; stream: number; memory: SharedArrayBuffer; offset: number; length: number }
  | { op: 'digest'; stream: number };
type HashReply = { stream: number; digest?: string; error?: string };

/**
 * The thread's body. It runs from its own source text (see `HashThread`), so it may use
 * nothing from this module: only `require`d built-ins. Requests are handled in the order
 * they were posted, so a stream's chunks are hashed in order.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- runs from its own source text */
function hashThreadMain(): void {
  const { parentPort } = require('node:worker_threads') as typeof import('node:worker_threads');
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  const hashes = new Map<number, import('node:crypto').Hash>();
  parentPort?.on('message', (request: HashRequest) => {
    try {
      if (request.op === 'update') {
        let hash = hashes.get(request.stream);
        if (hash === undefined) hashes.set(request.stream, (hash = createHash('sha256')));
        hash.update(new Uint8Array(request.memory, request.offset, request.length));
        parentPort.postMessage({ stream: request.stream });
      } else {
        const digest = (hashes.get(request.stream) ?? createHash('sha256')).digest('hex');
        hashes.delete(request.stream);
        parentPort.postMessage({ stream: request.stream, digest });
      }
    } catch (error) {
      parentPort.postMessage({ stream: request.stream, error: String(error) });
    }
  });
}
/* eslint-enable @typescript-eslint/no-require-imports */

const HASH_THREAD_SOURCE = `(${hashThreadMain.toString()})();`;

/**
 * One worker thread computing SHA-256 over chunks in shared memory, so hashing a large
 * file neither blocks the event loop nor waits for it: the caller reads and writes while
 * the thread hashes. Replies come in request order, so each stream's are a FIFO queue.
 * The thread keeps the process alive only while requests are outstanding.
 */
class HashThread {
  readonly #worker: Worker;
  readonly #waiting = new Map<
    number,
    { resolve: (digest: string | undefined) => void; reject: (error: Error) => void }[]
  >();
  #outstanding = 0;
  #nextStream = 0;
  #failure: Error | null = null;

  constructor() {
    // No inherited preloads: the body needs only built-ins (see CopyWorkers).
    this.#worker = new Worker(HASH_THREAD_SOURCE, { eval: true, execArgv: [] });
    this.#worker.unref();
    this.#worker.on('message', (reply: HashReply) => {
      const waiter = this.#waiting.get(reply.stream)?.shift();
      this.#settled();
      if (reply.error !== undefined) waiter?.reject(new Error(`hash thread: ${reply.error}`));
      else waiter?.resolve(reply.digest);
    });
    this.#worker.on('error', (error) => this.#fail(error));
    this.#worker.on('exit', (code) =>
      this.#fail(new Error(`hash thread exited with code ${code}`)),
    );
  }

  /** A new SHA-256 stream on the thread. */
  stream(): ThreadHash {
    return new ThreadHash(this, this.#nextStream++);
  }

  request(request: HashRequest): Promise<string | undefined> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const queue = this.#waiting.get(request.stream);
      if (queue) queue.push({ resolve, reject });
      else this.#waiting.set(request.stream, [{ resolve, reject }]);
      if (this.#outstanding++ === 0) this.#worker.ref();
      this.#worker.postMessage(request);
    });
  }

  #settled(): void {
    if (--this.#outstanding === 0) this.#worker.unref();
  }

  #fail(error: Error): void {
    if (this.#failure !== null) return;
    this.#failure = error;
    if (sharedThread === this) sharedThread = undefined;
    for (const queue of this.#waiting.values()) for (const waiter of queue) waiter.reject(error);
    this.#waiting.clear();
    this.#outstanding = 0;
  }
}

/** SHA-256 of one file's chunks, computed on the hash thread in the order they were given. */
export class ThreadHash {
  readonly #thread: HashThread;
  readonly #stream: number;

  constructor(thread: HashThread, stream: number) {
    this.#thread = thread;
    this.#stream = stream;
  }

  /**
   * Hashes `chunk`, which must lie in shared memory; resolves once the thread has read it
   * (the caller must not change those bytes before).
   */
  async update(chunk: Uint8Array): Promise<void> {
    if (!(chunk.buffer instanceof SharedArrayBuffer))
      throw new TypeError('ThreadHash.update: the chunk must lie in a SharedArrayBuffer');
    await this.#thread.request({
      op: 'update',
      stream: this.#stream,
      memory: chunk.buffer,
      offset: chunk.byteOffset,
      length: chunk.byteLength,
    });
  }

  /** The hex digest of every chunk given; ends the stream. */
  async digest(): Promise<string> {
    return (await this.#thread.request({ op: 'digest', stream: this.#stream })) as string;
  }
}

let sharedThread: HashThread | undefined;

/** A hash stream on the process's one hash thread, started on first use. */
export function threadHash(): ThreadHash {
  sharedThread ??= new HashThread();
  return sharedThread.stream();
}

import { Worker } from 'node:worker_threads';
import {
  COPY_CHUNK_BYTES,
  describeFsError,
  SourceReadError,
  type WrittenDigest,
} from './hashing-writer.js';

/** Chunks the reader may run ahead of the slower of writer and hasher: 4 MiB per copy. */
const RING_SLOTS = 16;

// Words of the control array one copy's threads share. The counts only grow during a copy.
/** Chunks read into the ring. */
const READ = 0;
/** Chunks written to the target. */
const WRITTEN = 1;
/** Chunks hashed. A slot may be read into again once its chunk is written and hashed. */
const HASHED = 2;
/** RUNNING, then READ_ALL (the reader reached the end) or STOP (give up: abort, failure). */
const STATE = 3;
/** The target's permissions, -1 until the reader has looked at the source. */
const MODE = 4;
/** Bumped on every change writer and hasher wait for (READ, STATE, MODE): they wait on it, so no wake-up is lost. */
const TO_CONSUMERS = 5;
/** Bumped on every change the reader waits for (WRITTEN, HASHED, STATE). */
const TO_READER = 6;
/** Then one word per slot: the bytes it holds. */
const LENGTHS = 7;

const RUNNING = 0;
const READ_ALL = 1;
const STOP = 2;

/** Where each word lies and what the states are, for the threads (which cannot import this module). */
const LAYOUT = {
  READ,
  WRITTEN,
  HASHED,
  STATE,
  MODE,
  TO_CONSUMERS,
  TO_READER,
  LENGTHS,
  RUNNING,
  READ_ALL,
  STOP,
};

type Role = 'reader' | 'writer' | 'hasher';

interface RingData {
  role: Role;
  control: SharedArrayBuffer;
  ring: SharedArrayBuffer;
  slots: number;
  chunkBytes: number;
  layout: typeof LAYOUT;
}

/** A file for the reader (`source`) or the writer (`target`): a path as text, or as bytes for names that are not UTF-8. */
type CopyJob = { id: number; file: string | Uint8Array } | { id: number; file?: undefined };

/** How one thread ended its part of a copy. */
type PartResult =
  | { kind: 'done'; size: number; sha256?: string }
  | { kind: 'read-error' | 'write-error'; code: string | undefined; message: string }
  | { kind: 'stopped' };

/**
 * The body of each of a copy's three threads (run from its own source text, so only
 * built-ins from `process.getBuiltinModule`, which the CLI bundle leaves alone; synchronous
 * calls, a thread each). The reader reads the source a chunk at a time into the ring; the
 * writer writes and the hasher hashes each chunk behind it, in order. None waits for another
 * unless the ring is full or empty.
 */
function ringThreadMain(): void {
  const { parentPort, workerData } = process.getBuiltinModule('node:worker_threads');
  const fs = process.getBuiltinModule('node:fs');
  const { createHash } = process.getBuiltinModule('node:crypto');
  const data = workerData as RingData;
  const layout = data.layout;
  const control = new Int32Array(data.control);
  const slots = Array.from({ length: data.slots }, (_, slot) =>
    Buffer.from(data.ring, slot * data.chunkBytes, data.chunkBytes),
  );
  const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_WRONLY, O_CREAT, O_TRUNC } = fs.constants;
  const pathOf = (file: string | Uint8Array): string | Buffer =>
    typeof file === 'string' ? file : Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const bump = (word: number): void => {
    Atomics.add(control, word, 1);
    Atomics.notify(control, word);
  };
  /** Gives up the copy for every thread: a failure here means the others' work is moot. */
  const fail = (kind: 'read-error' | 'write-error', error: unknown): unknown => {
    Atomics.store(control, layout.STATE, layout.STOP);
    bump(layout.TO_CONSUMERS);
    bump(layout.TO_READER);
    return { kind, code: (error as NodeJS.ErrnoException).code, message: (error as Error).message };
  };
  const stopped = (): boolean => Atomics.load(control, layout.STATE) === layout.STOP;

  const read = (source: string | Uint8Array): unknown => {
    let input: number;
    try {
      input = fs.openSync(pathOf(source), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (error) {
      return fail('read-error', error);
    }
    try {
      const info = fs.fstatSync(input);
      if (!info.isFile())
        return fail('read-error', { code: undefined, message: 'no longer a regular file' });
      Atomics.store(control, layout.MODE, (info.mode & 0o777) | 0o600);
      bump(layout.TO_CONSUMERS);
      let size = 0;
      for (let count = 0; ; count++) {
        // A slot is free once the chunk read `slots` chunks ago is written and hashed.
        for (;;) {
          const seen = Atomics.load(control, layout.TO_READER);
          if (stopped()) return { kind: 'stopped' };
          const behind = Math.min(
            Atomics.load(control, layout.WRITTEN),
            Atomics.load(control, layout.HASHED),
          );
          if (count - behind < slots.length) break;
          Atomics.wait(control, layout.TO_READER, seen);
        }
        const slot = count % slots.length;
        const bytes = fs.readSync(input, slots[slot] as Buffer, 0, data.chunkBytes, null);
        if (bytes === 0) {
          Atomics.compareExchange(control, layout.STATE, layout.RUNNING, layout.READ_ALL);
          bump(layout.TO_CONSUMERS);
          return { kind: 'done', size };
        }
        Atomics.store(control, layout.LENGTHS + slot, bytes);
        Atomics.store(control, layout.READ, count + 1);
        bump(layout.TO_CONSUMERS);
        size += bytes;
      }
    } catch (error) {
      return fail('read-error', error);
    } finally {
      fs.closeSync(input);
    }
  };

  /** Runs `use` on each chunk read, in order, until the reader has read all; `word` counts them. */
  const consume = (word: number, use: (chunk: Buffer) => void): 'done' | 'stopped' => {
    for (let count = 0; ;) {
      const seen = Atomics.load(control, layout.TO_CONSUMERS);
      const state = Atomics.load(control, layout.STATE);
      if (state === layout.STOP) return 'stopped';
      if (Atomics.load(control, layout.READ) > count) {
        const slot = count % slots.length;
        use((slots[slot] as Buffer).subarray(0, Atomics.load(control, layout.LENGTHS + slot)));
        Atomics.store(control, word, ++count);
        bump(layout.TO_READER);
      } else if (state === layout.READ_ALL) {
        return 'done';
      } else {
        Atomics.wait(control, layout.TO_CONSUMERS, seen);
      }
    }
  };

  const write = (target: string | Uint8Array): unknown => {
    // The file is created with the source's permissions, known once the reader opened it.
    for (;;) {
      const seen = Atomics.load(control, layout.TO_CONSUMERS);
      if (stopped()) return { kind: 'stopped' };
      if (Atomics.load(control, layout.MODE) !== -1) break;
      Atomics.wait(control, layout.TO_CONSUMERS, seen);
    }
    let output: number;
    try {
      output = fs.openSync(
        pathOf(target),
        O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW,
        Atomics.load(control, layout.MODE),
      );
    } catch (error) {
      return fail('write-error', error);
    }
    let size = 0;
    try {
      const end = consume(layout.WRITTEN, (chunk) => {
        for (let offset = 0; offset < chunk.length;)
          offset += fs.writeSync(output, chunk, offset, chunk.length - offset);
        size += chunk.length;
      });
      return end === 'done' ? { kind: 'done', size } : { kind: 'stopped' };
    } catch (error) {
      return fail('write-error', error);
    } finally {
      fs.closeSync(output);
    }
  };

  const hash = (): unknown => {
    const sha256 = createHash('sha256');
    let size = 0;
    const end = consume(layout.HASHED, (chunk) => {
      sha256.update(chunk);
      size += chunk.length;
    });
    return end === 'done' ? { kind: 'done', size, sha256: sha256.digest('hex') } : end;
  };

  parentPort?.on('message', (job: CopyJob) => {
    const result =
      data.role === 'hasher'
        ? hash()
        : data.role === 'reader'
          ? read(job.file as string | Uint8Array)
          : write(job.file as string | Uint8Array);
    parentPort.postMessage({ id: job.id, result });
  });
}

const RING_THREAD_SOURCE = `(${ringThreadMain.toString()})();`;

const ROLES: readonly Role[] = ['reader', 'writer', 'hasher'];

/**
 * A reader, a writer and a hasher thread over a ring of chunks in shared memory: the copy
 * runs at about the speed of the slowest of the three, off the event loop, in 4 MiB whatever
 * the file's size. One copy at a time.
 */
class CopyTrio {
  readonly #control = new SharedArrayBuffer((LENGTHS + RING_SLOTS) * 4);
  readonly #words = new Int32Array(this.#control);
  readonly #threads: Record<Role, Worker>;
  #nextId = 0;
  #current: {
    id: number;
    results: Partial<Record<Role, PartResult>>;
    settle: (failure: Error | null) => void;
  } | null = null;
  /** Set once a thread failed or exited: the trio copies nothing more. */
  failure: Error | null = null;

  constructor() {
    const ring = new SharedArrayBuffer(RING_SLOTS * COPY_CHUNK_BYTES);
    const start = (role: Role): Worker => {
      const workerData: RingData = {
        role,
        control: this.#control,
        ring,
        slots: RING_SLOTS,
        chunkBytes: COPY_CHUNK_BYTES,
        layout: LAYOUT,
      };
      // No inherited preloads: the body needs only built-ins (see CopyWorkers).
      const worker = new Worker(RING_THREAD_SOURCE, { eval: true, workerData, execArgv: [] });
      worker.unref();
      worker.on('message', (message: { id: number; result: PartResult }) => {
        const current = this.#current;
        if (current?.id !== message.id) return;
        current.results[role] = message.result;
        if (ROLES.every((each) => current.results[each] !== undefined)) current.settle(null);
      });
      worker.on('error', (error) =>
        this.#fail(new Error(`large-file copy: the ${role} thread failed: ${error.message}`)),
      );
      worker.on('exit', (code) =>
        this.#fail(new Error(`large-file copy: the ${role} thread exited with code ${code}`)),
      );
      return worker;
    };
    this.#threads = { reader: start('reader'), writer: start('writer'), hasher: start('hasher') };
  }

  /** Runs one copy; resolves with each thread's part once all three have ended theirs. */
  async copy(
    source: string | Buffer,
    target: string | Buffer,
    signal: AbortSignal | undefined,
  ): Promise<Record<Role, PartResult>> {
    if (this.failure !== null) throw this.failure;
    const words = this.#words;
    for (const word of [READ, WRITTEN, HASHED]) Atomics.store(words, word, 0);
    Atomics.store(words, STATE, RUNNING);
    Atomics.store(words, MODE, -1);
    const id = this.#nextId++;
    const results: Partial<Record<Role, PartResult>> = {};
    const done = new Promise<void>((resolve, reject) => {
      this.#current = {
        id,
        results,
        settle: (failure) => (failure === null ? resolve() : reject(failure)),
      };
    });
    const stop = (): void => this.#stop();
    signal?.addEventListener('abort', stop, { once: true });
    if (signal?.aborted) stop();
    for (const thread of Object.values(this.#threads)) thread.ref();
    try {
      this.#threads.hasher.postMessage({ id } satisfies CopyJob);
      this.#threads.writer.postMessage({ id, file: target } satisfies CopyJob);
      this.#threads.reader.postMessage({ id, file: source } satisfies CopyJob);
      await done;
      return results as Record<Role, PartResult>;
    } finally {
      signal?.removeEventListener('abort', stop);
      this.#current = null;
      for (const thread of Object.values(this.#threads)) thread.unref();
    }
  }

  async close(): Promise<void> {
    this.#stop();
    await Promise.all(Object.values(this.#threads).map((thread) => thread.terminate()));
  }

  /** Tells every thread to give up the copy at its next chunk. */
  #stop(): void {
    Atomics.store(this.#words, STATE, STOP);
    for (const word of [TO_CONSUMERS, TO_READER]) {
      Atomics.add(this.#words, word, 1);
      Atomics.notify(this.#words, word);
    }
  }

  #fail(error: Error): void {
    if (this.failure !== null) return;
    this.failure = error;
    // The others must not wait for a partner that is gone, nor outlive it.
    this.#stop();
    this.#current?.settle(error);
    for (const thread of Object.values(this.#threads)) void thread.terminate();
  }
}

/**
 * Copies large files into scratch, hashing them on the way, each on threads of its own
 * (`CopyTrio`): trios are started on demand and reused, one per copy running at once, so
 * the caller bounds memory by bounding its concurrent copies. `close()` it when done.
 */
export class LargeFileCopier {
  readonly #idle: CopyTrio[] = [];
  readonly #busy = new Set<CopyTrio>();

  /**
   * Copies `source` to `target` (created, never through a symlink, with the source's
   * permissions and owner-readable), returning the size and SHA-256 of the bytes written.
   * Reading problems throw `SourceReadError`; writing problems throw an error with the
   * system's `code` (ENOSPC for a full scratch); an abort throws the signal's reason.
   */
  async copy(
    source: string | Buffer,
    target: string | Buffer,
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<WrittenDigest> {
    options.signal?.throwIfAborted();
    let trio = this.#idle.pop();
    // A trio whose thread died while idle is dropped (its failure stopped the others).
    while (trio !== undefined && trio.failure !== null) trio = this.#idle.pop();
    trio ??= new CopyTrio();
    this.#busy.add(trio);
    let parts;
    try {
      parts = await trio.copy(source, target, options.signal);
    } finally {
      this.#busy.delete(trio);
      if (trio.failure === null) this.#idle.push(trio);
    }
    const { reader, writer, hasher } = parts;
    // The first cause wins: a read error also stops the writer, a write error the reader.
    for (const part of [reader, writer, hasher]) {
      if (part.kind === 'read-error') throw new SourceReadError(describeFsError(part), part.code);
      if (part.kind === 'write-error')
        throw Object.assign(new Error(part.message), { code: part.code });
    }
    options.signal?.throwIfAborted();
    if (
      reader.kind !== 'done' ||
      writer.kind !== 'done' ||
      hasher.kind !== 'done' ||
      hasher.sha256 === undefined ||
      writer.size !== reader.size ||
      hasher.size !== reader.size
    )
      throw new Error('large-file copy: stopped before the end');
    return { size: writer.size, sha256: hasher.sha256 };
  }

  /** Stops every trio's threads (a copy still running fails). */
  async close(): Promise<void> {
    const trios = [...this.#idle.splice(0), ...this.#busy];
    await Promise.all(trios.map((trio) => trio.close()));
  }
}

import { Worker } from 'node:worker_threads';
import {
  COPY_CHUNK_BYTES,
  describeFsError,
  SourceReadError,
  type WrittenDigest,
} from './hashing-writer.js';

/** Chunks the copier may run ahead of the hasher: 4 MiB per copy. */
const RING_SLOTS = 16;

// Words of the control array one copy's threads share. The counts only grow during a copy.
/** Chunks read into the ring (the copier writes each to the target right after). */
const READ = 0;
/** Chunks hashed. A slot may be read into again once its chunk is hashed. */
const HASHED = 1;
/** RUNNING, then READ_ALL (the copier reached the end) or STOP (give up: abort, failure). */
const STATE = 2;
/** Bumped on every change the hasher waits for (READ, STATE): it waits on it, so no wake-up is lost. */
const TO_HASHER = 3;
/** Bumped on every change the copier waits for (HASHED, STATE). */
const TO_COPIER = 4;
/** Then one word per slot: the bytes it holds. */
const LENGTHS = 5;

const RUNNING = 0;
const READ_ALL = 1;
const STOP = 2;

/** Where each word lies and what the states are, for the threads (which cannot import this module). */
const LAYOUT = {
  READ,
  HASHED,
  STATE,
  TO_HASHER,
  TO_COPIER,
  LENGTHS,
  RUNNING,
  READ_ALL,
  STOP,
};

type Role = 'copier' | 'hasher';

interface RingData {
  role: Role;
  control: SharedArrayBuffer;
  ring: SharedArrayBuffer;
  slots: number;
  chunkBytes: number;
  layout: typeof LAYOUT;
}

/** The files of one copy (paths as text, or as bytes for names that are not UTF-8); none for the hasher. */
type CopyJob =
  | { id: number; source: string | Uint8Array; target: string | Uint8Array }
  | { id: number; source?: undefined; target?: undefined };

/** How one thread ended its part of a copy. */
type PartResult =
  | { kind: 'done'; size: number; sha256?: string }
  | { kind: 'read-error' | 'write-error'; code: string | undefined; message: string }
  | { kind: 'stopped' };

/**
 * The body of each of a copy's two threads (run from its own source text, so only
 * built-ins from `process.getBuiltinModule`, which the CLI bundle leaves alone; synchronous
 * calls, a thread each). The copier reads the source a chunk at a time into the ring and
 * writes it to the target from there; the hasher hashes each chunk behind it, in order.
 * Neither waits for the other unless the ring is full or empty.
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
  /** Gives up the copy for both threads: a failure here means the other's work is moot. */
  const fail = (kind: 'read-error' | 'write-error', error: unknown): unknown => {
    Atomics.store(control, layout.STATE, layout.STOP);
    bump(layout.TO_HASHER);
    bump(layout.TO_COPIER);
    return { kind, code: (error as NodeJS.ErrnoException).code, message: (error as Error).message };
  };
  const stopped = (): boolean => Atomics.load(control, layout.STATE) === layout.STOP;

  const copy = (source: string | Uint8Array, target: string | Uint8Array): unknown => {
    let input: number;
    try {
      input = fs.openSync(pathOf(source), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (error) {
      return fail('read-error', error);
    }
    try {
      let mode: number;
      try {
        const info = fs.fstatSync(input);
        if (!info.isFile())
          return fail('read-error', { code: undefined, message: 'no longer a regular file' });
        mode = (info.mode & 0o777) | 0o600;
      } catch (error) {
        return fail('read-error', error);
      }
      // The target is created only once the source is known to be a readable file.
      let output: number;
      try {
        output = fs.openSync(pathOf(target), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode);
      } catch (error) {
        return fail('write-error', error);
      }
      try {
        let size = 0;
        for (let count = 0; ; count++) {
          // A slot is free once the chunk read `slots` chunks ago is hashed.
          for (;;) {
            const seen = Atomics.load(control, layout.TO_COPIER);
            if (stopped()) return { kind: 'stopped' };
            if (count - Atomics.load(control, layout.HASHED) < slots.length) break;
            Atomics.wait(control, layout.TO_COPIER, seen);
          }
          const slot = count % slots.length;
          const chunk = slots[slot] as Buffer;
          let bytes: number;
          try {
            bytes = fs.readSync(input, chunk, 0, data.chunkBytes, null);
          } catch (error) {
            return fail('read-error', error);
          }
          if (bytes === 0) {
            Atomics.compareExchange(control, layout.STATE, layout.RUNNING, layout.READ_ALL);
            bump(layout.TO_HASHER);
            return { kind: 'done', size };
          }
          // The hasher starts on the chunk while it is written.
          Atomics.store(control, layout.LENGTHS + slot, bytes);
          Atomics.store(control, layout.READ, count + 1);
          bump(layout.TO_HASHER);
          try {
            for (let offset = 0; offset < bytes;)
              offset += fs.writeSync(output, chunk, offset, bytes - offset);
          } catch (error) {
            return fail('write-error', error);
          }
          size += bytes;
        }
      } finally {
        fs.closeSync(output);
      }
    } finally {
      fs.closeSync(input);
    }
  };

  const hash = (): unknown => {
    const sha256 = createHash('sha256');
    let size = 0;
    for (let count = 0; ;) {
      const seen = Atomics.load(control, layout.TO_HASHER);
      const state = Atomics.load(control, layout.STATE);
      if (state === layout.STOP) return { kind: 'stopped' };
      if (Atomics.load(control, layout.READ) > count) {
        const slot = count % slots.length;
        const bytes = Atomics.load(control, layout.LENGTHS + slot);
        sha256.update((slots[slot] as Buffer).subarray(0, bytes));
        size += bytes;
        Atomics.store(control, layout.HASHED, ++count);
        bump(layout.TO_COPIER);
      } else if (state === layout.READ_ALL) {
        return { kind: 'done', size, sha256: sha256.digest('hex') };
      } else {
        Atomics.wait(control, layout.TO_HASHER, seen);
      }
    }
  };

  parentPort?.on('message', (job: CopyJob) => {
    const result =
      job.source === undefined || job.target === undefined ? hash() : copy(job.source, job.target);
    parentPort.postMessage({ id: job.id, result });
  });
}

const RING_THREAD_SOURCE = `(${ringThreadMain.toString()})();`;

const ROLES: readonly Role[] = ['copier', 'hasher'];

/**
 * A copier thread (reads, then writes each chunk) and a hasher thread over a ring of
 * chunks in shared memory: the hash runs beside the copy at about the speed of the slower
 * of the two, off the event loop, in 4 MiB whatever the file's size. One copy at a time.
 */
class CopyPair {
  readonly #control = new SharedArrayBuffer((LENGTHS + RING_SLOTS) * 4);
  readonly #words = new Int32Array(this.#control);
  readonly #threads: Record<Role, Worker>;
  #nextId = 0;
  #current: {
    id: number;
    results: Partial<Record<Role, PartResult>>;
    settle: (failure: Error | null) => void;
  } | null = null;
  /** Set once a thread failed or exited: the pair copies nothing more. */
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
    this.#threads = { copier: start('copier'), hasher: start('hasher') };
  }

  /** Runs one copy; resolves with each thread's part once both have ended theirs. */
  async copy(
    source: string | Buffer,
    target: string | Buffer,
    signal: AbortSignal | undefined,
  ): Promise<Record<Role, PartResult>> {
    if (this.failure !== null) throw this.failure;
    const words = this.#words;
    for (const word of [READ, HASHED]) Atomics.store(words, word, 0);
    Atomics.store(words, STATE, RUNNING);
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
      this.#threads.copier.postMessage({ id, source, target } satisfies CopyJob);
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

  /** Tells both threads to give up the copy at their next chunk. */
  #stop(): void {
    Atomics.store(this.#words, STATE, STOP);
    for (const word of [TO_HASHER, TO_COPIER]) {
      Atomics.add(this.#words, word, 1);
      Atomics.notify(this.#words, word);
    }
  }

  #fail(error: Error): void {
    if (this.failure !== null) return;
    this.failure = error;
    // The other must not wait for a partner that is gone, nor outlive it.
    this.#stop();
    this.#current?.settle(error);
    for (const thread of Object.values(this.#threads)) void thread.terminate();
  }
}

/**
 * Copies large files into scratch, hashing them on the way, each on two threads of its own
 * (`CopyPair`): pairs are started on demand and reused, one per copy running at once, so
 * the caller bounds memory by bounding its concurrent copies. `close()` it when done.
 */
export class LargeFileCopier {
  readonly #idle: CopyPair[] = [];
  readonly #busy = new Set<CopyPair>();

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
    let pair = this.#idle.pop();
    // A pair whose thread died while idle is dropped (its failure stopped the other).
    while (pair !== undefined && pair.failure !== null) pair = this.#idle.pop();
    pair ??= new CopyPair();
    this.#busy.add(pair);
    let parts;
    try {
      parts = await pair.copy(source, target, options.signal);
    } finally {
      this.#busy.delete(pair);
      if (pair.failure === null) this.#idle.push(pair);
    }
    const { copier, hasher } = parts;
    for (const part of [copier, hasher]) {
      if (part.kind === 'read-error') throw new SourceReadError(describeFsError(part), part.code);
      if (part.kind === 'write-error')
        throw Object.assign(new Error(part.message), { code: part.code });
    }
    options.signal?.throwIfAborted();
    if (
      copier.kind !== 'done' ||
      hasher.kind !== 'done' ||
      hasher.sha256 === undefined ||
      hasher.size !== copier.size
    )
      throw new Error('large-file copy: stopped before the end');
    return { size: copier.size, sha256: hasher.sha256 };
  }

  /** Stops every pair's threads (a copy still running fails). */
  async close(): Promise<void> {
    const pairs = [...this.#idle.splice(0), ...this.#busy];
    await Promise.all(pairs.map((pair) => pair.close()));
  }
}

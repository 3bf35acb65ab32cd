import { createHash, type Hash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { crc32c, crc32cHex } from './crc32c.js';

/** Checksum algorithms a manifest can name (PostgreSQL's set, plus our SHA-256). */
export const checksumAlgorithms = ['sha256', 'sha224', 'sha384', 'sha512', 'crc32c'] as const;
export type ChecksumAlgorithm = (typeof checksumAlgorithms)[number];

/** Reads are this large: Node's SHA-256 runs at less than half speed with 64 KiB chunks. */
export const HASH_CHUNK_BYTES = 1024 * 1024;

/** An incremental digest: feed bytes, then read lower-case hex once. */
export interface Digester {
  update(chunk: Uint8Array): void;
  digest(): string;
}

/** A digester for one algorithm; CRC-32C comes out in PostgreSQL's byte order (see crc32cHex). */
export function createDigester(algorithm: ChecksumAlgorithm): Digester {
  if (algorithm === 'crc32c') {
    let value = 0;
    return {
      update: (chunk) => {
        value = crc32c(chunk, value);
      },
      digest: () => crc32cHex(value),
    };
  }
  const hash: Hash = createHash(algorithm);
  return {
    update: (chunk) => {
      hash.update(chunk);
    },
    digest: () => hash.digest('hex'),
  };
}

/** What hashing one file found: its length and one digest per algorithm asked for. */
export interface FileDigest {
  size: number;
  digests: Partial<Record<ChecksumAlgorithm, string>>;
}

/**
 * Hashes a file in one pass with every algorithm asked for, reading 1 MiB at a time
 * into one buffer. The single place files are hashed after the fact, so a worker
 * pool can take it over. Throws the file system's error (ENOENT, EACCES, ELOOP for a symlink…).
 */
export async function hashFile(
  path: string | Buffer,
  algorithms: readonly ChecksumAlgorithm[] = ['sha256'],
  options: { signal?: AbortSignal | undefined } = {},
): Promise<FileDigest> {
  const digesters = algorithms.map((algorithm) => [algorithm, createDigester(algorithm)] as const);
  // A symlink is never hashed through (its content is its target), and a FIFO never blocks the open.
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const buffer = Buffer.allocUnsafe(HASH_CHUNK_BYTES);
    let size = 0;
    for (;;) {
      options.signal?.throwIfAborted();
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      size += bytesRead;
      const chunk = buffer.subarray(0, bytesRead);
      for (const [, digester] of digesters) digester.update(chunk);
    }
    const digests: FileDigest['digests'] = {};
    for (const [algorithm, digester] of digesters) digests[algorithm] = digester.digest();
    return { size, digests };
  } finally {
    await handle.close();
  }
}

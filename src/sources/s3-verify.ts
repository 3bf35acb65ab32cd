import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { crc32c } from '../manifest/crc32c.js';
import { Crc64Nvme } from '../manifest/crc64nvme.js';
import type { ObjectDownload, StoredChecksumAlgorithm } from './object-store.js';

/**
 * Verifies a downloaded object against what S3 recorded, while it streams: the ETag (MD5 of
 * the bytes, or for a multipart upload the MD5 of the parts' MD5s plus `-N`) and every stored
 * checksum, full-object (over the bytes) or composite (over the parts' checksums, plus `-N`).
 */

/** A running digest over bytes. */
interface Digest {
  update(data: Uint8Array): void;
  /** The raw digest bytes, big-endian for CRCs (as S3 base64-encodes them). */
  digest(): Buffer;
}

function crcDigest(step: (data: Uint8Array, previous: number) => number): () => Digest {
  return () => {
    let value = 0;
    return {
      update: (data) => (value = step(data, value)),
      digest: () => {
        const out = Buffer.alloc(4);
        out.writeUInt32BE(value >>> 0);
        return out;
      },
    };
  };
}

const hashDigest =
  (name: string): (() => Digest) =>
  () => {
    const hash = createHash(name);
    return { update: (data) => hash.update(data), digest: () => hash.digest() };
  };

/** How to compute each algorithm S3 stores. */
export const CHECKSUM_DIGESTS: Readonly<Record<StoredChecksumAlgorithm, () => Digest>> = {
  CRC32: crcDigest((data, previous) => crc32(data, previous)),
  CRC32C: crcDigest(crc32c),
  CRC64NVME: () => {
    const crc = new Crc64Nvme();
    return { update: (data) => crc.update(data), digest: () => crc.digest() };
  },
  SHA1: hashDigest('sha1'),
  SHA256: hashDigest('sha256'),
};

/** The ETag of a single-part upload is the MD5 of its bytes; a multipart one ends in `-N`. */
const MD5_ETAG = /^[0-9a-f]{32}$/i;
const MULTIPART_ETAG = /^([0-9a-f]{32})-(\d+)$/i;
const COMPOSITE_SUFFIX = /-(\d+)$/;

/** The number of parts the object's ETag or a composite checksum names; null for a single-part upload. */
export function partCountOf(
  etag: string | null,
  download: Pick<ObjectDownload, 'checksums' | 'etagIsNotMd5'>,
): number | null {
  const fromEtag = etag !== null && !download.etagIsNotMd5 ? MULTIPART_ETAG.exec(etag) : null;
  if (fromEtag) return Number(fromEtag[2]);
  for (const value of Object.values(download.checksums)) {
    const suffix = COMPOSITE_SUFFIX.exec(value);
    if (suffix) return Number(suffix[1]);
  }
  return null;
}

/** One thing the object was checked against, and what was computed from its bytes. */
interface Expectation {
  /** How evidence names the method: `md5`, `multipart-md5`, `crc32`, `composite-crc32`… */
  method: string;
  /** What the store recorded, as it shows it. */
  stored: string;
  /** Label for findings: `ETag`, `CRC32`, `composite CRC32`. */
  label: string;
  algorithm: 'MD5' | StoredChecksumAlgorithm;
  /** Per part (composite) or over the whole object. */
  perPart: boolean;
  /** Encodes a raw digest the way `stored` is written. */
  encode: (raw: Buffer) => string;
}

/** The outcome of verifying one object. */
export interface ObjectVerification {
  /** Methods that matched, e.g. `['multipart-md5', 'composite-crc32']`. */
  verifiedBy: string[];
  /** Methods that did not: each with what the store recorded and what the bytes give. */
  mismatches: { label: string; stored: string; computed: string }[];
  /** Why nothing could be checked, when nothing was and nothing mismatched; else null. */
  unverifiable: string | null;
}

/**
 * Streams an object's bytes through the digests its recorded values need. Build it with the
 * object's ETag, the stored checksums and, for a multipart object, its part sizes.
 */
export class ObjectVerifier {
  readonly #expectations: Expectation[] = [];
  readonly #wholeDigests = new Map<Expectation, Digest>();
  readonly #partAlgorithms: ('MD5' | StoredChecksumAlgorithm)[] = [];
  /** Raw per-part digests, by algorithm, in part order. */
  readonly #partResults = new Map<string, Buffer[]>();
  readonly #skipped: string[] = [];
  readonly #partSizes: readonly number[] | null;
  #partIndex = 0;
  #partLeft = 0;
  #partDigests = new Map<string, Digest>();

  constructor(
    etag: string | null,
    download: Pick<ObjectDownload, 'checksums' | 'checksumType' | 'etagIsNotMd5'>,
    /** Sizes of the parts in upload order, for a multipart object; null when unknown or single-part. */
    partSizes: readonly number[] | null,
    /** Why the part sizes are unknown, when the object has parts and they are. */
    partSizesMissing: string | null = null,
  ) {
    this.#partSizes = partSizes;
    const parts = partCountOf(etag, download);
    const partsKnown = parts !== null && partSizes !== null && partSizes.length === parts;
    const unknownParts = (what: string): void => {
      this.#skipped.push(`${what} of ${parts} parts, ${partSizesMissing ?? 'part sizes unknown'}`);
    };
    const hexOf = (raw: Buffer): string => raw.toString('hex');
    if (etag !== null && download.etagIsNotMd5) {
      this.#skipped.push('ETag of an encrypted object (SSE-KMS or SSE-C) is not an MD5');
    } else if (etag !== null && MD5_ETAG.test(etag)) {
      this.#expect({
        method: 'md5',
        stored: etag.toLowerCase(),
        label: 'ETag',
        algorithm: 'MD5',
        perPart: false,
        encode: hexOf,
      });
    } else if (etag !== null && MULTIPART_ETAG.test(etag)) {
      if (partsKnown)
        this.#expect({
          method: 'multipart-md5',
          stored: etag.toLowerCase(),
          label: 'multipart ETag',
          algorithm: 'MD5',
          perPart: true,
          encode: (raw) => `${hexOf(raw)}-${parts}`,
        });
      else unknownParts('multipart ETag');
    } else if (etag !== null) {
      this.#skipped.push(`ETag ${etag} is neither an MD5 nor a multipart ETag`);
    }
    for (const [algorithm, value] of Object.entries(download.checksums) as [
      StoredChecksumAlgorithm,
      string,
    ][]) {
      const suffix = COMPOSITE_SUFFIX.exec(value);
      // A value without `-N` under type COMPOSITE is still over the parts (some stores omit the suffix).
      const composite =
        suffix !== null || (download.checksumType === 'COMPOSITE' && parts !== null);
      if (!composite) {
        this.#expect({
          method: algorithm.toLowerCase(),
          stored: value,
          label: algorithm,
          algorithm,
          perPart: false,
          encode: (raw) => raw.toString('base64'),
        });
      } else if (partsKnown && (suffix === null || Number(suffix[1]) === parts)) {
        const tail = suffix === null ? '' : `-${parts}`;
        this.#expect({
          method: `composite-${algorithm.toLowerCase()}`,
          stored: value,
          label: `composite ${algorithm}`,
          algorithm,
          perPart: true,
          encode: (raw) => `${raw.toString('base64')}${tail}`,
        });
      } else if (suffix !== null && parts !== null && Number(suffix[1]) !== parts) {
        this.#skipped.push(
          `composite ${algorithm} names ${suffix[1]} parts but the ETag names ${parts}`,
        );
      } else unknownParts(`composite ${algorithm}`);
    }
    if (this.#partAlgorithms.length > 0) this.#startPart();
  }

  /** Feeds the next piece of the body, in order. */
  update(chunk: Uint8Array): void {
    for (const digest of this.#wholeDigests.values()) digest.update(chunk);
    if (this.#partAlgorithms.length === 0) return;
    let at = 0;
    while (at < chunk.length) {
      if (this.#partLeft === 0 && !this.#nextPart()) {
        // More bytes than the parts hold: the last part takes them, and the result cannot match.
        this.#partLeft = Number.POSITIVE_INFINITY;
      }
      const take = Math.min(this.#partLeft, chunk.length - at);
      const piece = chunk.subarray(at, at + take);
      for (const digest of this.#partDigests.values()) digest.update(piece);
      this.#partLeft -= take;
      at += take;
    }
  }

  /** Compares what was computed with what the store recorded. */
  finish(): ObjectVerification {
    if (this.#partAlgorithms.length > 0) {
      this.#endPart();
      // Parts the body never reached (it was short): their empty digests keep the count right.
      while (this.#partSizes !== null && this.#partIndex < this.#partSizes.length - 1) {
        this.#partIndex++;
        this.#startPart();
        this.#endPart();
      }
    }
    const verification: ObjectVerification = { verifiedBy: [], mismatches: [], unverifiable: null };
    for (const expectation of this.#expectations) {
      const raw = expectation.perPart
        ? this.#combine(expectation.algorithm)
        : (this.#wholeDigests.get(expectation) as Digest).digest();
      const computed = expectation.encode(raw);
      if (computed === expectation.stored) verification.verifiedBy.push(expectation.method);
      else
        verification.mismatches.push({
          label: expectation.label,
          stored: expectation.stored,
          computed,
        });
    }
    if (verification.verifiedBy.length === 0 && verification.mismatches.length === 0)
      verification.unverifiable =
        this.#skipped.length > 0 ? this.#skipped.join('; ') : 'no ETag and no stored checksum';
    return verification;
  }

  #expect(expectation: Expectation): void {
    this.#expectations.push(expectation);
    if (!expectation.perPart) {
      this.#wholeDigests.set(expectation, newDigest(expectation.algorithm));
    } else if (!this.#partAlgorithms.includes(expectation.algorithm)) {
      this.#partAlgorithms.push(expectation.algorithm);
      this.#partResults.set(expectation.algorithm, []);
    }
  }

  #startPart(): void {
    this.#partLeft = this.#partSizes?.[this.#partIndex] ?? 0;
    this.#partDigests = new Map(
      this.#partAlgorithms.map((algorithm) => [algorithm, newDigest(algorithm)]),
    );
  }

  #endPart(): void {
    for (const [algorithm, digest] of this.#partDigests)
      this.#partResults.get(algorithm)?.push(digest.digest());
  }

  /** Closes the current part and opens the next; false when it was the last. */
  #nextPart(): boolean {
    if (this.#partSizes === null || this.#partIndex >= this.#partSizes.length - 1) return false;
    this.#endPart();
    this.#partIndex++;
    this.#startPart();
    return true;
  }

  /** The digest of the concatenated part digests: S3's multipart ETag and composite checksums. */
  #combine(algorithm: 'MD5' | StoredChecksumAlgorithm): Buffer {
    const digest = newDigest(algorithm);
    for (const part of this.#partResults.get(algorithm) ?? []) digest.update(part);
    return digest.digest();
  }
}

function newDigest(algorithm: 'MD5' | StoredChecksumAlgorithm): Digest {
  return algorithm === 'MD5' ? hashDigest('md5')() : CHECKSUM_DIGESTS[algorithm]();
}

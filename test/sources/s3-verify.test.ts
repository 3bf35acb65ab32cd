import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32c } from '../../src/manifest/crc32c.js';
import { Crc64Nvme } from '../../src/manifest/crc64nvme.js';
import type { ObjectDownload, StoredChecksumAlgorithm } from '../../src/sources/object-store.js';
import { ObjectVerifier, partCountOf } from '../../src/sources/s3-verify.js';

/**
 * s3rver keeps neither multipart ETags nor checksums, so these values are what AWS S3 records,
 * computed here from the real bytes as S3 documents it: a multipart ETag is the MD5 of the
 * parts' binary MD5s plus `-N`; a composite checksum is the checksum of the parts' binary
 * checksums plus `-N`; a full-object checksum is over the whole body. CRCs are big-endian.
 */
const MiB = 1024 * 1024;
const body = randomBytes(13 * MiB);
const PART_SIZES = [5 * MiB, 5 * MiB, 3 * MiB];
const parts = splitLike(body);

function be32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out;
}

/** Raw checksum of `data` by each algorithm, computed independently of the verifier. */
const raw: Record<StoredChecksumAlgorithm | 'MD5', (data: Buffer) => Buffer> = {
  MD5: (data) => createHash('md5').update(data).digest(),
  SHA1: (data) => createHash('sha1').update(data).digest(),
  SHA256: (data) => createHash('sha256').update(data).digest(),
  CRC32: (data) => be32(crc32(data)),
  CRC32C: (data) => be32(crc32c(data)),
  CRC64NVME: (data) => new Crc64Nvme().update(data).digest(),
};

const multipartEtag = (of: Buffer[]): string =>
  `${raw.MD5(Buffer.concat(of.map(raw.MD5))).toString('hex')}-${of.length}`;
const composite = (algorithm: StoredChecksumAlgorithm, of: Buffer[]): string =>
  `${raw[algorithm](Buffer.concat(of.map(raw[algorithm]))).toString('base64')}-${of.length}`;
const fullObject = (algorithm: StoredChecksumAlgorithm, data: Buffer): string =>
  raw[algorithm](data).toString('base64');

const ALGORITHMS: StoredChecksumAlgorithm[] = ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'];

function download(
  checksums: ObjectDownload['checksums'] = {},
  checksumType: ObjectDownload['checksumType'] = null,
  etagIsNotMd5 = false,
): Pick<ObjectDownload, 'checksums' | 'checksumType' | 'etagIsNotMd5'> {
  return { checksums, checksumType, etagIsNotMd5 };
}

/** Streams `data` through a verifier in network-sized pieces that straddle the part boundaries. */
function verify(
  data: Buffer,
  etag: string | null,
  stored: ReturnType<typeof download>,
  sizes: number[] | null,
  missing: string | null = null,
) {
  const verifier = new ObjectVerifier(etag, stored, sizes, missing);
  for (let at = 0; at < data.length; at += 1_000_003)
    verifier.update(data.subarray(at, at + 1_000_003));
  return verifier.finish();
}

/** The body with one byte flipped inside the second part: what "changed inside the store" looks like. */
function changedBody(): Buffer {
  const changed = Buffer.from(body);
  const at = 5 * MiB + 12_345;
  changed[at] = (changed[at] as number) ^ 0x01;
  return changed;
}

describe('verifying an S3 multipart object', () => {
  it('matches the multipart ETag (MD5 of the parts’ MD5s) when the part sizes are known', () => {
    const etag = multipartEtag(parts);
    expect(etag).toMatch(/^[0-9a-f]{32}-3$/);
    expect(partCountOf(etag, download())).toBe(3);
    const result = verify(body, etag, download(), PART_SIZES);
    expect(result).toEqual({ verifiedBy: ['multipart-md5'], mismatches: [], unverifiable: null });
  });

  it('finds a byte changed inside the store through the multipart ETag', () => {
    const etag = multipartEtag(parts);
    const result = verify(changedBody(), etag, download(), PART_SIZES);
    expect(result.verifiedBy).toEqual([]);
    expect(result.mismatches).toEqual([
      { label: 'multipart ETag', stored: etag, computed: multipartEtag(splitLike(changedBody())) },
    ]);
  });

  it('finds a changed object through the multipart ETag even when the part sizes were wrong', () => {
    const etag = multipartEtag(parts);
    const result = verify(body, etag, download(), [4 * MiB, 6 * MiB, 3 * MiB]);
    expect(result.mismatches.map((m) => m.label)).toEqual(['multipart ETag']);
  });

  it('calls a multipart ETag unverifiable, saying why, when the part sizes are unknown', () => {
    const result = verify(body, multipartEtag(parts), download(), null, 'the store lists no parts');
    expect(result).toEqual({
      verifiedBy: [],
      mismatches: [],
      unverifiable: 'multipart ETag of 3 parts, the store lists no parts',
    });
  });

  it.each(ALGORITHMS)(
    'matches a composite %s and finds the changed byte through it',
    (algorithm) => {
      const stored = download({ [algorithm]: composite(algorithm, parts) }, 'COMPOSITE');
      expect(verify(body, null, stored, PART_SIZES)).toEqual({
        verifiedBy: [`composite-${algorithm.toLowerCase()}`],
        mismatches: [],
        unverifiable: null,
      });
      const changed = verify(changedBody(), null, stored, PART_SIZES);
      expect(changed.mismatches).toEqual([
        {
          label: `composite ${algorithm}`,
          stored: composite(algorithm, parts),
          computed: composite(algorithm, splitLike(changedBody())),
        },
      ]);
    },
  );

  it.each(ALGORITHMS)(
    'matches a full-object %s and finds the changed byte through it',
    (algorithm) => {
      const stored = download({ [algorithm]: fullObject(algorithm, body) }, 'FULL_OBJECT');
      expect(verify(body, multipartEtag(parts), stored, PART_SIZES).verifiedBy).toEqual([
        'multipart-md5',
        algorithm.toLowerCase(),
      ]);
      // A full-object checksum needs no part sizes.
      const changed = verify(changedBody(), multipartEtag(parts), stored, null, 'unknown');
      expect(changed.mismatches).toEqual([
        {
          label: algorithm,
          stored: fullObject(algorithm, body),
          computed: fullObject(algorithm, changedBody()),
        },
      ]);
    },
  );

  it('counts its parts from a composite checksum when the ETag is not an MD5 (SSE-KMS)', () => {
    const stored = download({ CRC32C: composite('CRC32C', parts) }, 'COMPOSITE', true);
    expect(partCountOf(multipartEtag(parts), stored)).toBe(3);
    expect(verify(body, multipartEtag(parts), stored, PART_SIZES).verifiedBy).toEqual([
      'composite-crc32c',
    ]);
  });

  it('says why an encrypted object with no stored checksum cannot be verified', () => {
    const result = verify(body, 'f'.repeat(32), download({}, null, true), null);
    expect(result.unverifiable).toMatch(/encrypted object/);
  });

  it('verifies a single-part object by the MD5 in its ETag and a full-object CRC64NVME', () => {
    const small = body.subarray(0, 100_000);
    const etag = raw.MD5(small).toString('hex');
    const stored = download({ CRC64NVME: fullObject('CRC64NVME', small) }, 'FULL_OBJECT');
    expect(partCountOf(etag, stored)).toBeNull();
    expect(verify(small, etag, stored, null).verifiedBy).toEqual(['md5', 'crc64nvme']);
  });

  it('finds a body that ends early: the missing parts count as empty', () => {
    const etag = multipartEtag(parts);
    const result = verify(body.subarray(0, 6 * MiB), etag, download(), PART_SIZES);
    expect(result.mismatches.map((m) => m.label)).toEqual(['multipart ETag']);
  });
});

/** Splits like the upload did: 5, 5 and 3 MiB. */
function splitLike(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const size of PART_SIZES) {
    out.push(data.subarray(at, at + size));
    at += size;
  }
  return out;
}

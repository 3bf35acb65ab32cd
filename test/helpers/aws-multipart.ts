import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { ProxyAction, ProxyRule } from './flaky-proxy.js';

/**
 * What AWS S3 records for a multipart upload, computed from the real parts: s3rver records a
 * multipart object's ETag as the MD5 of its bytes and keeps no checksums, so a proxy in front of
 * it answers with these (restore-drill's own verification is what the tests judge).
 */

const md5 = (data: Buffer): Buffer => createHash('md5').update(data).digest();
const crc32Of = (data: Buffer): Buffer => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(data));
  return out;
};

/** The multipart ETag: MD5 of the parts' binary MD5s, then `-N`. */
export const awsEtag = (parts: readonly Buffer[]): string =>
  `${md5(Buffer.concat(parts.map(md5))).toString('hex')}-${parts.length}`;

/** A composite CRC32: CRC32 of the parts' big-endian CRC32s, base64, then `-N`. */
export const compositeCrc32 = (parts: readonly Buffer[]): string =>
  `${crc32Of(Buffer.concat(parts.map(crc32Of))).toString('base64')}-${parts.length}`;

/**
 * A proxy rule answering for object `key` (uploaded as `parts`) as AWS S3 does: its multipart ETag
 * everywhere s3rver shows the whole-object MD5, a composite CRC32 on GET, and HEAD with
 * partNumber giving each part's size. `attributes`: answer GetObjectAttributes (else 501, as
 * many S3-compatible stores do).
 */
export function awsLikeMultipart(
  key: string,
  parts: readonly Buffer[],
  options: { attributes?: boolean } = {},
): ProxyRule {
  const whole = createHash('md5').update(Buffer.concat(parts)).digest('hex');
  const etag = awsEtag(parts);
  return (request): ProxyAction => {
    if (request.key === key && request.query.has('attributes')) {
      if (!options.attributes) return { kind: 'error', status: 501, code: 'NotImplemented' };
      const listed = parts
        .map(
          (part, index) =>
            `<Part><PartNumber>${index + 1}</PartNumber><Size>${part.length}</Size></Part>`,
        )
        .join('');
      return {
        kind: 'error',
        status: 200,
        raw: `<?xml version="1.0" encoding="UTF-8"?><GetObjectAttributesResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><ObjectParts><TotalPartsCount>${parts.length}</TotalPartsCount><IsTruncated>false</IsTruncated>${listed}</ObjectParts></GetObjectAttributesResponse>`,
      };
    }
    const partNumber = Number(request.query.get('partNumber') ?? 0);
    if (request.key === key && request.method === 'HEAD' && partNumber > 0)
      return {
        kind: 'pass',
        replace: [[whole, etag]],
        setHeaders: {
          'content-length': String(parts[partNumber - 1]?.length ?? 0),
          'x-amz-mp-parts-count': String(parts.length),
        },
      };
    if (request.key === key && request.method === 'GET')
      return {
        kind: 'pass',
        replace: [[whole, etag]],
        setHeaders: {
          'x-amz-checksum-crc32': compositeCrc32(parts),
          'x-amz-checksum-type': 'COMPOSITE',
        },
      };
    return { kind: 'pass', replace: [[whole, etag]] };
  };
}

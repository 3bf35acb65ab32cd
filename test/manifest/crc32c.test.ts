import { describe, expect, test } from 'vitest';
import { crc32c, crc32cHex } from '../../src/manifest/crc32c.js';

/** Reference bit-at-a-time CRC-32C, to check the sliced tables against. */
function bitwise(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

describe('crc32c', () => {
  test('gives the standard check value for "123456789"', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });

  test('matches the RFC 3720 (iSCSI) test vectors', () => {
    expect(crc32c(Buffer.alloc(32, 0x00))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
  });

  test('is 0 for no bytes', () => {
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  test('agrees with a bit-at-a-time CRC at every length and alignment', () => {
    const data = Uint8Array.from({ length: 300 }, (_, i) => (i * 131 + 7) & 0xff);
    for (let offset = 0; offset < 8; offset++) {
      for (const length of [0, 1, 3, 7, 8, 9, 15, 16, 17, 63, 64, 200, 292]) {
        const slice = data.subarray(offset, offset + length);
        expect(crc32c(slice), `offset ${offset} length ${length}`).toBe(bitwise(slice));
      }
    }
  });

  test('continues across chunks: crc32c(b, crc32c(a)) equals crc32c(a + b)', () => {
    const whole = Buffer.from('The quick brown fox jumps over the lazy dog, twice over.');
    for (let cut = 0; cut <= whole.length; cut++) {
      expect(crc32c(whole.subarray(cut), crc32c(whole.subarray(0, cut)))).toBe(crc32c(whole));
    }
  });

  test('writes hex in the byte order PostgreSQL uses in backup manifests', () => {
    // "15\n" is PG_VERSION of a PostgreSQL 15 cluster; pg_basebackup lists it with checksum 8a744722.
    expect(crc32cHex(crc32c(Buffer.from('15\n')))).toBe('8a744722');
    expect(crc32cHex(0xe3069283)).toBe('839206e3');
  });
});

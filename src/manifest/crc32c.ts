import { endianness } from 'node:os';

/** Reflected Castagnoli polynomial (CRC-32C, iSCSI; what PostgreSQL uses). */
const POLYNOMIAL = 0x82f63b78;

type Tables = [
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
];

/** Eight tables for slicing-by-8: eight bytes per step instead of one. */
const TABLES = ((): Tables => {
  const tables = Array.from({ length: 8 }, () => new Int32Array(256)) as Tables;
  const first = tables[0];
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1;
    first[n] = c;
  }
  for (let t = 1; t < 8; t++) {
    const previous = tables[t - 1]!;
    const table = tables[t]!;
    for (let n = 0; n < 256; n++) table[n] = (previous[n]! >>> 8) ^ first[previous[n]! & 0xff]!;
  }
  return tables;
})();

// Reading 32-bit words through a typed array is twice as fast, but only means the right thing on little-endian hosts.
const WORDS = endianness() === 'LE';

/**
 * CRC-32C of `data`, continuing from `previous` (the result of an earlier call over
 * the bytes before it), so `crc32c(b, crc32c(a))` equals `crc32c(a ‖ b)`.
 */
export function crc32c(data: Uint8Array, previous = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES;
  let crc = ~previous;
  let i = 0;
  const length = data.length;
  if (WORDS) {
    // Byte-wise up to a 4-byte boundary, then two words (8 bytes) per step.
    const head = Math.min(length, (4 - (data.byteOffset & 3)) & 3);
    for (; i < head; i++) crc = t0[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
    // Too short to reach the boundary: the byte loop below does it all.
    const pairs = ((data.byteOffset + i) & 3) === 0 ? (length - i) >>> 3 : 0;
    if (pairs > 0) {
      const words = new Int32Array(data.buffer, data.byteOffset + i, pairs * 2);
      for (let w = 0; w < words.length; w += 2) {
        const low = words[w]! ^ crc;
        const high = words[w + 1]!;
        crc =
          t7[low & 0xff]! ^
          t6[(low >>> 8) & 0xff]! ^
          t5[(low >>> 16) & 0xff]! ^
          t4[low >>> 24]! ^
          t3[high & 0xff]! ^
          t2[(high >>> 8) & 0xff]! ^
          t1[(high >>> 16) & 0xff]! ^
          t0[high >>> 24]!;
      }
      i += pairs * 8;
    }
  }
  for (; i < length; i++) crc = t0[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

/**
 * A CRC-32C as PostgreSQL writes it in a backup manifest: the 32-bit value's bytes
 * in memory order, which is little-endian on every platform pg_basebackup commonly runs on.
 */
export function crc32cHex(value: number): string {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(value >>> 0);
  return bytes.toString('hex');
}

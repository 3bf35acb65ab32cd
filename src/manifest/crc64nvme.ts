/**
 * CRC-64/NVME (reflected polynomial 0x9a6c9329ac4bc9b5, initial and final XOR all ones): the
 * CRC64NVME checksum S3 stores. Table-driven over two 32-bit halves, since 64-bit BigInt
 * arithmetic per byte would be far slower.
 */
const POLY_HIGH = 0x9a6c9329;
const POLY_LOW = 0xac4bc9b5;

const [TABLE_HIGH, TABLE_LOW] = ((): [Uint32Array, Uint32Array] => {
  const high = new Uint32Array(256);
  const low = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let h = 0;
    let l = n;
    for (let k = 0; k < 8; k++) {
      const carry = l & 1;
      l = ((l >>> 1) | ((h & 1) << 31)) >>> 0;
      h >>>= 1;
      if (carry) {
        h = (h ^ POLY_HIGH) >>> 0;
        l = (l ^ POLY_LOW) >>> 0;
      }
    }
    high[n] = h;
    low[n] = l;
  }
  return [high, low];
})();

/**
 * A running CRC-64/NVME: `update` with each piece in order, then `digest` gives the eight bytes
 * big-endian, the order S3 base64-encodes them in.
 */
export class Crc64Nvme {
  #high = 0xffffffff;
  #low = 0xffffffff;

  update(data: Uint8Array): this {
    let high = this.#high;
    let low = this.#low;
    for (let i = 0; i < data.length; i++) {
      const index = (low ^ data[i]!) & 0xff;
      low = ((low >>> 8) | (high << 24)) ^ TABLE_LOW[index]!;
      high = (high >>> 8) ^ TABLE_HIGH[index]!;
    }
    this.#high = high >>> 0;
    this.#low = low >>> 0;
    return this;
  }

  digest(): Buffer {
    const out = Buffer.alloc(8);
    out.writeUInt32BE(~this.#high >>> 0, 0);
    out.writeUInt32BE(~this.#low >>> 0, 4);
    return out;
  }
}

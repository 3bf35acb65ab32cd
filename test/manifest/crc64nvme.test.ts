import { describe, expect, it } from 'vitest';
import { Crc64Nvme } from '../../src/manifest/crc64nvme.js';

const hex = (data: string | Buffer): string =>
  new Crc64Nvme().update(Buffer.from(data)).digest().toString('hex');

describe('CRC-64/NVME', () => {
  it('gives the catalogue check value and the published vectors', () => {
    // The CRC catalogue's check value ("123456789").
    expect(hex('123456789')).toBe('ae8b14860a799888');
    // aws-checksums (32 zero bytes), aws-c-s3 ("aaaaaaaaaa"), crc64fast-nvme ("hello world!").
    expect(hex(Buffer.alloc(32))).toBe('cf3473434d4ecf3b');
    expect(hex('aaaaaaaaaa')).toBe('0c1a80036d65c555');
    expect(hex('hello world!')).toBe('d9160d1fa8e418e3');
    // SPDK's NVMe vectors: 4 KiB of zeros and of ones.
    expect(hex(Buffer.alloc(4096))).toBe('6482d367eb22b64e');
    expect(hex(Buffer.alloc(4096, 0xff))).toBe('c0ddba7302eca3ac');
    expect(hex('')).toBe('0000000000000000');
  });

  it('is base64 of the big-endian bytes, as S3 reports it', () => {
    const value = new Crc64Nvme().update(Buffer.from('Hello, World!\n')).digest();
    expect(value.toString('base64')).toBe('SoXXbx67KpE=');
  });

  it('gives the same value however the data is split', () => {
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7 + 3) & 0xff));
    const whole = hex(data);
    const pieces = new Crc64Nvme();
    for (let at = 0; at < data.length; at += 37) pieces.update(data.subarray(at, at + 37));
    expect(pieces.digest().toString('hex')).toBe(whole);
    expect(hex(Buffer.concat([data, Buffer.from('x')]))).not.toBe(whole);
  });
});

import { describe, expect, it } from 'vitest';
import {
  canonicalFileName,
  decodeFileName,
  encodeFileName,
  FileNameSyntaxError,
  fsPath,
  printable,
} from '../../src/model/file-name.js';

/** Nothing a terminal could act on: no C0/C1 control, DEL, separators or bidi controls. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069]/u;

/** Why `bytes` does not round-trip safely, or null when it does. */
function roundTripFailure(bytes: Buffer): string | null {
  const escaped = encodeFileName(bytes);
  const hex = bytes.toString('hex');
  if (UNSAFE.test(escaped)) return `${hex}: unsafe character in ${JSON.stringify(escaped)}`;
  // The escaped text is well-formed Unicode (no lone surrogate).
  if (/\p{Cs}/u.test(escaped)) return `${hex}: lone surrogate`;
  if (!decodeFileName(escaped).equals(bytes)) return `${hex}: decodes to other bytes`;
  if (canonicalFileName(escaped) !== escaped) return `${hex}: not canonical`;
  return null;
}

function roundTrips(bytes: Buffer): void {
  expect(roundTripFailure(bytes)).toBeNull();
}

describe('encodeFileName / decodeFileName', () => {
  it.each([
    ['report.txt', 'report.txt'],
    ['dir/sub/a b.csv', 'dir/sub/a b.csv'],
    ['café', 'café'],
    ['cafe\u0301', 'cafe\u0301'],
    ['日本語/ファイル', '日本語/ファイル'],
    ['emoji 😀', 'emoji 😀'],
  ])('keeps the valid UTF-8 name %j as it is', (name, expected) => {
    expect(encodeFileName(Buffer.from(name, 'utf8'))).toBe(expected);
  });

  it.each([
    [Buffer.from('bad\xff\xfe.txt', 'latin1'), 'bad\\xff\\xfe.txt'],
    [Buffer.from('a\\b', 'latin1'), 'a\\\\b'],
    [Buffer.from('line\nbreak\ttab\rcr', 'latin1'), 'line\\nbreak\\ttab\\rcr'],
    [Buffer.from('esc\x1b[31m', 'latin1'), 'esc\\x1b[31m'],
    [Buffer.from('del\x7f', 'latin1'), 'del\\x7f'],
    [Buffer.from('c1 \u009b', 'utf8'), 'c1 \\xc2\\x9b'],
    [Buffer.from('rtl \u202e', 'utf8'), 'rtl \\xe2\\x80\\xae'],
    [Buffer.from('ls \u2028', 'utf8'), 'ls \\xe2\\x80\\xa8'],
    // Overlong `/`, an encoded surrogate, a cut-off sequence, a code point past U+10FFFF.
    [Buffer.from([0xc0, 0xaf]), '\\xc0\\xaf'],
    [Buffer.from([0xed, 0xa0, 0x80]), '\\xed\\xa0\\x80'],
    [Buffer.from([0x61, 0xe2, 0x82]), 'a\\xe2\\x82'],
    [Buffer.from([0xf4, 0x90, 0x80, 0x80]), '\\xf4\\x90\\x80\\x80'],
    [Buffer.from('latin1 caf\xe9', 'latin1'), 'latin1 caf\\xe9'],
  ])('escapes %o as %j', (bytes, expected) => {
    expect(encodeFileName(bytes)).toBe(expected);
    roundTrips(bytes);
  });

  it('round-trips every byte string of one and two bytes', () => {
    const failures: string[] = [];
    for (let a = 0; a < 256; a++) {
      const one = roundTripFailure(Buffer.from([a]));
      if (one !== null) failures.push(one);
      for (let b = 0; b < 256; b++) {
        const two = roundTripFailure(Buffer.from([a, b]));
        if (two !== null) failures.push(two);
      }
    }
    expect(failures).toEqual([]);
  });

  it('round-trips seeded random byte strings, biased towards UTF-8 lead and continuation bytes', () => {
    let state = 0x9e3779b9;
    const next = (): number => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return state >>> 0;
    };
    const failures: string[] = [];
    const pool = [0x00, 0x0a, 0x5c, 0x41, 0x7f, 0x80, 0xbf, 0xc2, 0xe0, 0xed, 0xf0, 0xf4, 0xff];
    for (let n = 0; n < 20_000; n++) {
      const length = 1 + (next() % 8);
      const bytes = Buffer.alloc(length);
      for (let i = 0; i < length; i++)
        bytes[i] = next() % 2 === 0 ? (pool[next() % pool.length] as number) : next() % 256;
      const failure = roundTripFailure(bytes);
      if (failure !== null) failures.push(failure);
    }
    expect(failures).toEqual([]);
  });

  it.each([
    ['ends\\', 'ends with a lone backslash'],
    ['a\\b', "unknown escape '\\b'"],
    ['a\\x4', "unknown escape '\\x'"],
    ['a\\xzz', "unknown escape '\\x'"],
  ])('refuses %j: %s', (text, message) => {
    expect(() => decodeFileName(text)).toThrow(FileNameSyntaxError);
    expect(() => decodeFileName(text)).toThrow(message);
  });
});

describe('canonicalFileName', () => {
  it('writes every escape the one way the encoder does', () => {
    expect(canonicalFileName('\\x41\\x5c')).toBe('A\\\\');
    expect(canonicalFileName('\\xc3\\xa9')).toBe('é');
    expect(canonicalFileName('raw\nnewline')).toBe('raw\\nnewline');
    expect(canonicalFileName('plain/name.txt')).toBe('plain/name.txt');
  });
});

describe('fsPath', () => {
  it('gives a string for UTF-8 names and the exact bytes for others', () => {
    expect(fsPath('/scratch', '')).toBe('/scratch');
    expect(fsPath('/scratch', 'a/café')).toBe('/scratch/a/café');
    const odd = fsPath('/scratch', 'a/bad\\xff\\n');
    expect(Buffer.isBuffer(odd)).toBe(true);
    expect((odd as Buffer).equals(Buffer.from('/scratch/a/bad\xff\n', 'latin1'))).toBe(true);
  });
});

describe('printable', () => {
  it('escapes control characters in any text and leaves ordinary text alone', () => {
    expect(printable('cannot read C:\\dir')).toBe('cannot read C:\\dir');
    expect(printable('two\nlines\x1b[2J')).toBe('two\\nlines\\x1b[2J');
    expect(printable('lone \ud800')).toBe('lone \\xef\\xbf\\xbd');
    expect(UNSAFE.test(printable('\u202e\u0085\t'))).toBe(false);
  });
});

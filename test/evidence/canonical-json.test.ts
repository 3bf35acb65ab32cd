import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/evidence/canonical-json.js';

describe('canonicalJson', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x y' } })).toBe(
      '{"a":{"c":"x y","d":[3,{"y":null,"z":true}]},"b":1}',
    );
  });

  it('gives the same text for the same value whatever the key order', () => {
    expect(canonicalJson({ one: 1, two: [2, 2], three: { a: 'a', b: 'b' } })).toBe(
      canonicalJson({ three: { b: 'b', a: 'a' }, two: [2, 2], one: 1 }),
    );
  });

  it('sorts keys by UTF-16 code unit, as RFC 8785 does', () => {
    expect(canonicalJson({ é: 1, z: 2, Z: 3, '10': 4, '9': 5, '😀': 6, '\uffff': 7 })).toBe(
      '{"10":4,"9":5,"Z":3,"z":2,"é":1,"😀":6,"\uffff":7}',
    );
  });

  it('escapes strings and writes numbers as JSON does', () => {
    expect(
      canonicalJson({ s: 'line\n"quoted"\t\\ ünï', n: [0, -0, 1.5, 1e21, 123456789012345] }),
    ).toBe('{"n":[0,0,1.5,1e+21,123456789012345],"s":"line\\n\\"quoted\\"\\t\\\\ ünï"}');
  });

  it('leaves out undefined members and writes undefined array slots as null', () => {
    expect(canonicalJson({ a: undefined, b: [undefined, 1] })).toBe('{"b":[null,1]}');
  });

  it('writes dates as their ISO text', () => {
    expect(canonicalJson({ at: new Date('2025-01-02T03:04:05.678Z') })).toBe(
      '{"at":"2025-01-02T03:04:05.678Z"}',
    );
  });

  it('refuses values JSON cannot carry, naming where they are', () => {
    expect(() => canonicalJson({ a: [1, Number.NaN] })).toThrow(
      'canonical JSON: $.a[1] is NaN, which JSON cannot represent',
    );
    expect(() => canonicalJson({ big: 1n })).toThrow(
      'canonical JSON: $.big is a bigint, which JSON cannot represent',
    );
    expect(() => canonicalJson({ f: () => 1 })).toThrow('canonical JSON: $.f is a function');
    expect(() => canonicalJson({ x: Number.POSITIVE_INFINITY })).toThrow('$.x is Infinity');
  });

  it('refuses cycles but accepts the same object twice', () => {
    const shared = { k: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"k":1},"b":{"k":1}}');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = { back: cyclic };
    expect(() => canonicalJson(cyclic)).toThrow(
      'canonical JSON: $.self.back refers back to itself',
    );
  });

  it('matches JSON.parse round trips', () => {
    const value = { z: [1, 'two', { three: 3 }], a: { nested: { deeper: [true, false, null] } } };
    expect(JSON.parse(canonicalJson(value))).toEqual(value);
  });
});

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { itemLine, itemsDigest } from '../../src/evidence/items-digest.js';

const files = [
  { path: 'b.txt', size: 2, sha256: 'b'.repeat(64) },
  { path: 'a.txt', size: 1, sha256: 'a'.repeat(64) },
  { path: 'empty', size: 0, sha256: null },
];

describe('itemsDigest', () => {
  it('digests a run without links exactly as records before links were items did', () => {
    // The formula records have always been checked against: sorted `path\tsize\tsha256` lines.
    const before = createHash('sha256')
      .update(`a.txt\t1\t${'a'.repeat(64)}\nb.txt\t2\t${'b'.repeat(64)}\nempty\t0\t\n`)
      .digest('hex');
    expect(itemsDigest(files)).toBe(before);
  });

  it('fixes a link by its target: another target is another digest', () => {
    const link = { path: 'current', size: 0, sha256: null, linkTarget: 'a.txt' };
    expect(itemLine(link)).toBe('current\t0\t\ta.txt');
    const withLink = itemsDigest([...files, link]);
    expect(withLink).not.toBe(itemsDigest(files));
    expect(itemsDigest([...files, { ...link, linkTarget: 'b.txt' }])).not.toBe(withLink);
    // A link is not an empty file of the same name.
    expect(itemsDigest([...files, { path: 'current', size: 0, sha256: null }])).not.toBe(withLink);
  });
});

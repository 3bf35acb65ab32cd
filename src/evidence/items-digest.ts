import { createHash, type Hash } from 'node:crypto';
import type { RunItem } from './run-record.js';

// A record's `itemsDigest` fixes the run's item list (kept outside the chain, in
// run_items and in bundle item lines): SHA-256 over the sorted `path\tsize\tsha256`
// lines, each ending in a newline; a symbolic link's line adds `\ttarget`, so a run
// without links digests exactly as before links were items. The order is JavaScript's string order (UTF-16
// code units), which PostgreSQL's "C" collation (UTF-8 bytes) matches except for
// characters above U+FFFF next to U+E000..U+FFFF; `ItemsDigester` notices when
// lines arrive out of order, and the caller then sorts that run's items itself.

/** What of an item its digest line holds. */
export type DigestedItem = Pick<RunItem, 'path' | 'size' | 'sha256' | 'linkTarget'>;

/** The line one item contributes to the digest. */
export function itemLine(item: DigestedItem): string {
  const line = `${item.path}\t${item.size}\t${item.sha256 ?? ''}`;
  return item.linkTarget === undefined ? line : `${line}\t${item.linkTarget}`;
}

/** The SQL expression of `itemLine` over run_items, in the digest's order with `collate "C"`. */
export const ITEM_LINE_SQL = `(path || chr(9) || size::text || chr(9) || coalesce(sha256, '') || coalesce(chr(9) || link_target, '')) collate "C"`;

/** Fixes the exact list of restored items into the record. */
export function itemsDigest(files: readonly DigestedItem[]): string {
  const digester = new ItemsDigester();
  for (const line of files.map(itemLine).sort()) digester.addLine(line);
  return digester.digest();
}

/**
 * The digest of items fed one at a time in the digest's order: memory stays flat
 * whatever the number of items. `inOrder` turns false when a line sorts before the
 * one fed before it; the digest is then not the record's way of computing it.
 */
export class ItemsDigester {
  readonly #hash: Hash = createHash('sha256');
  #previous: string | undefined;
  #inOrder = true;
  #count = 0;

  add(item: DigestedItem): void {
    this.addLine(itemLine(item));
  }

  addLine(line: string): void {
    if (this.#previous !== undefined && line < this.#previous) this.#inOrder = false;
    this.#previous = line;
    this.#count++;
    this.#hash.update(`${line}\n`);
  }

  /** False when the lines did not come sorted: recompute with `itemsDigest` over them all. */
  get inOrder(): boolean {
    return this.#inOrder;
  }

  get count(): number {
    return this.#count;
  }

  digest(): string {
    return this.#hash.digest('hex');
  }
}

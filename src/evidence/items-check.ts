import { ItemsDigester, itemsDigest, type DigestedItem } from './items-digest.js';

// Items are not in the hash chain; the record's itemsDigest fixes them. This
// recomputes that digest from a run's item lines (a bundle's, or run_items) and,
// when it differs, names what it can: the record only fixes the digest, the file
// count and (when the sample is small) the item paths, so a deleted or added line
// is named by its path, and a changed size or SHA-256 by the record it belongs to.

/** At most this many items named per problem, and problems kept per report. */
const NAMED_ITEMS = 10;
export const ITEMS_PROBLEMS_KEPT = 100;

/** A run whose items do not match its record's itemsDigest. */
export interface ItemsProblem {
  seq: number;
  runId: string;
  /** The record's line in a bundle. */
  line: number | null;
  /** The record's itemsDigest (null: the record fixes no items). */
  expected: string | null;
  /** The digest of the item lines found. */
  actual: string;
  /** Items the record says the run restored (its `restored.files` plus `restored.links`). */
  expectedItems: number | null;
  /** Item lines found. */
  items: number;
  /** Paths the record's sample lists and no item line has (a deleted line). */
  missing: string[];
  /** Item lines whose path the record's sample does not list (an added line). */
  added: string[];
  /** One line a person can act on, naming the run and the item. */
  message: string;
}

/** What the items of a run are checked against: fields of its record. */
interface FixedItems {
  digest: string | null;
  /** Items: files and links. */
  files: number | null;
  links: number;
  /** Every item path, when the record's sample lists all of them (small runs). */
  paths: Set<string> | null;
}

function fixedItemsOf(recordText: string): FixedItems | null {
  let record: unknown;
  try {
    record = JSON.parse(recordText);
  } catch {
    return null; // the chain walk names an unreadable record
  }
  if (record === null || typeof record !== 'object') return null;
  const {
    itemsDigest: digest,
    restored,
    sample,
  } = record as {
    itemsDigest?: unknown;
    restored?: { files?: unknown; links?: unknown };
    sample?: { items?: unknown } | null;
  };
  const files = typeof restored?.files === 'number' ? restored.files : null;
  // Links are items too (since migration 007); the sample lists files only.
  const links = typeof restored?.links === 'number' ? restored.links : 0;
  const listed = Array.isArray(sample?.items) ? (sample.items as unknown[]) : null;
  const paths =
    listed !== null && files !== null && listed.length === files
      ? new Set(listed.filter((path): path is string => typeof path === 'string'))
      : null;
  return {
    digest: typeof digest === 'string' ? digest : null,
    files: files === null ? null : files + links,
    links,
    paths,
  };
}

/**
 * Checks one run's items as they stream in digest order; `finish` says whether they
 * match. Memory: the record's listed paths (at most its sample's 1000) and a few named.
 */
export class RecordItemsCheck {
  readonly #fixed: FixedItems | null;
  readonly #digester = new ItemsDigester();
  readonly #seen = new Set<string>();
  readonly #added: string[] = [];

  constructor(
    readonly seq: number,
    readonly runId: string,
    recordText: string,
    readonly line: number | null = null,
  ) {
    this.#fixed = fixedItemsOf(recordText);
  }

  add(item: DigestedItem): void {
    this.#digester.add(item);
    const paths = this.#fixed?.paths;
    // The sample lists files only: a link is named only where the record fixes no items.
    if (item.linkTarget !== undefined && this.#fixed?.digest !== null) return;
    if (paths?.has(item.path)) this.#seen.add(item.path);
    else if ((paths || this.#fixed?.digest === null) && this.#added.length < NAMED_ITEMS)
      this.#added.push(item.path);
  }

  /** Items fed so far. */
  get count(): number {
    return this.#digester.count;
  }

  /**
   * The problem, or null when the items match. `allItems` reads the run's items again
   * when they did not arrive in the digest's order, so they can be sorted.
   */
  async finish(
    allItems: () => Promise<DigestedItem[]>,
    where: 'bundle' | 'run_items',
  ): Promise<ItemsProblem | null> {
    const fixed = this.#fixed;
    if (fixed === null) return null;
    const count = this.#digester.count;
    const actual = this.#digester.inOrder ? this.#digester.digest() : itemsDigest(await allItems());
    // A record without a digest restored nothing: no items belong to it.
    if (fixed.digest === null ? count === 0 : actual === fixed.digest) return null;
    const missing = fixed.paths
      ? [...fixed.paths].filter((path) => !this.#seen.has(path)).slice(0, NAMED_ITEMS)
      : [];
    const added = this.#added;
    const run = `seq ${this.seq} (run ${this.runId})`;
    const lines = where === 'bundle' ? 'item lines' : 'run_items rows';
    const counted =
      fixed.files === null
        ? `${count} ${lines}`
        : `${count} ${lines} for ${fixed.files - fixed.links} files${fixed.links > 0 ? ` and ${fixed.links} links` : ''}`;
    let what: string;
    if (fixed.digest === null)
      what = `the record fixes no items (itemsDigest null) but ${count} ${lines} name it${named('added', added)}`;
    else if (missing.length > 0 || added.length > 0)
      what = `${[missing.length > 0 ? named('missing', missing) : '', added.length > 0 ? named('added', added) : ''].filter(Boolean).join('; ')} (${counted})`;
    else if (fixed.files !== null && count !== fixed.files)
      what = `${count < fixed.files ? 'items missing' : 'items added'}: ${counted}`;
    else {
      // One digest over all items cannot tell which one changed; a bundle can say where they are.
      const place =
        where === 'bundle' && this.line !== null && count > 0
          ? ` in item lines ${this.line + 1}-${this.line + count}`
          : '';
      what = `an item's size or SHA-256${fixed.links > 0 ? ' or a link target' : ''} was changed${place} (${counted}${fixed.paths ? ', the paths the record lists' : ''})`;
    }
    return {
      seq: this.seq,
      runId: this.runId,
      line: this.line,
      expected: fixed.digest,
      actual,
      expectedItems: fixed.files,
      items: count,
      missing,
      added,
      message: `${this.line === null ? '' : `line ${this.line}: `}${run}: items do not match the record's itemsDigest: ${what}`,
    };
  }
}

function named(what: 'missing' | 'added', paths: readonly string[]): string {
  if (paths.length === 0) return '';
  const list = paths.map((path) => `'${path}'`).join(', ');
  return what === 'missing'
    ? `item ${list} missing`
    : `${paths.length === 1 ? 'item' : 'items'} ${list} added`;
}

/** Every run whose items differ, in seq order (the first `ITEMS_PROBLEMS_KEPT` kept). */
export interface ItemsReport {
  /** Runs whose items were checked. */
  runs: number;
  /** Item lines or rows read. */
  items: number;
  /** Runs whose items differ (may exceed `problems.length`). */
  differing: number;
  problems: ItemsProblem[];
}

export function emptyItemsReport(): ItemsReport {
  return { runs: 0, items: 0, differing: 0, problems: [] };
}

/** Adds one run's outcome to the report. */
export function addItemsOutcome(
  report: ItemsReport,
  problem: ItemsProblem | null,
  items: number,
): void {
  report.runs++;
  report.items += items;
  if (problem === null) return;
  report.differing++;
  if (report.problems.length < ITEMS_PROBLEMS_KEPT) report.problems.push(problem);
}

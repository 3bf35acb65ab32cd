import type { WalRange } from './wal-ranges.js';
import { z } from 'zod';
import type { RecordCount } from '../records/count-records.js';
import type { ChecksumAlgorithm } from './hash-file.js';
import { canonicalFileName, FileNameSyntaxError, printable } from '../model/file-name.js';

/** The manifest formats restore-drill reads (the config's `checks.manifest.format`). */
/** Manifest formats restore-drill reads. */
export const manifestFormatSchema = z
  .enum(['sha256sum', 'backup_manifest', 'restore-drill'])
  .describe(
    "sha256sum: lines of '<hex>  <path>'; backup_manifest: pg_basebackup's; restore-drill: the JSON of `restore-drill manifest`.",
  );
export type ManifestFormat = z.output<typeof manifestFormatSchema>;

/** What a manifest expects of one file. */
export interface ManifestEntry {
  /** 1-based line of the manifest that lists it, so findings can point at it. */
  line: number;
  /** Expected size in bytes, when the format records it. */
  size?: number;
  /** Expected SHA-256, lower-case hex: compared with the hash taken while restoring. */
  sha256?: string;
  /** Another algorithm (backup_manifest's CRC32C, SHA-512…): the restored file is hashed again with it. */
  algorithm?: ChecksumAlgorithm;
  /** The digest for `algorithm`, lower-case hex. */
  digest?: string;
  /** Records counted at backup time (CSV/TSV/JSONL rows, SQLite rows per table), for the records check. */
  records?: RecordCount;
}

/** Kinds of problem in a manifest itself; any of them fails the manifest check. */
export type ManifestProblemKind = 'malformed' | 'unsafe' | 'duplicate' | 'manifest-checksum';

/** A manifest line that is malformed or unsafe, kept instead of stopping at the first. */
export interface ManifestProblem {
  /** 1-based line, or null for a problem with the whole file (its own checksum). */
  line: number | null;
  problem: ManifestProblemKind;
  /** The entry's path as written, or a short excerpt of the line. */
  item: string;
  /** One line saying what is wrong and what was expected. */
  message: string;
}

/** A parsed manifest, whatever its format: expected files (and tables) plus its own problems. */
export interface Manifest {
  format: ManifestFormat;
  /** Expected files by normalised path (relative, `/` separated, no `./`). */
  files: Map<string, ManifestEntry>;
  /** Expected symbolic links by path, with their targets, when the manifest records them. */
  links?: Map<string, { line: number; target: string }>;
  /** Expected row counts by table name, when the manifest records them. */
  tables?: Map<string, number>;
  /** Expected content digests by table name, for the tables the manifest gives one. */
  tableDigests?: Map<string, string>;
  /** The WAL a restore needs (a PostgreSQL backup_manifest's "WAL-Ranges"). */
  walRanges?: WalRange[];
  /** Problems found while reading, capped at MAX_MANIFEST_PROBLEMS; `problemsTotal` has the count. */
  problems: ManifestProblem[];
  problemsTotal: number;
  /**
   * Paths left out of the comparison both ways, as pg_verifybackup does for pg_wal/ and
   * files pg_basebackup -R rewrites. A trailing `/` names a folder and everything under it.
   */
  ignored: readonly string[];
}

/** Problems kept per manifest: enough to act on, bounded so a garbage file cannot exhaust memory. */
export const MAX_MANIFEST_PROBLEMS = 1_000;

/** The manifest cannot be used at all (unreadable, not JSON, wrong format): the check fails naming it. */
export class ManifestReadError extends Error {
  override readonly name = 'ManifestReadError';
}

/** True when `path` is excluded from the comparison by the manifest's format. */
export function isIgnored(manifest: Pick<Manifest, 'ignored'>, path: string): boolean {
  for (const ignored of manifest.ignored) {
    if (ignored.endsWith('/') ? path.startsWith(ignored) : path === ignored) return true;
  }
  return false;
}

/** A path as written in a manifest, normalised: either safe and relative, or why it is not usable. */
export type NormalisedPath =
  { ok: true; path: string } | { ok: false; problem: 'malformed' | 'unsafe'; message: string };

/**
 * Normalises a manifest path (`./a//b` → `a/b`, escapes written the one way of
 * `model/file-name.ts`) and refuses what could reach outside the restore: absolute
 * paths and `..` components.
 */
export function normaliseManifestPath(raw: string): NormalisedPath {
  if (raw.length === 0) return { ok: false, problem: 'malformed', message: 'empty path' };
  if (raw.includes('\0'))
    return { ok: false, problem: 'malformed', message: 'path contains a NUL byte' };
  if (raw.startsWith('/'))
    return {
      ok: false,
      problem: 'unsafe',
      message: 'absolute path; expected a path relative to the set',
    };
  const parts = raw.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..'))
    return {
      ok: false,
      problem: 'unsafe',
      message: "path has a '..' component and could escape the restore",
    };
  if (parts.length === 0) return { ok: false, problem: 'malformed', message: 'path names no file' };
  const escaped = canonicalEscape(parts.join('/'));
  return escaped.ok ? { ok: true, path: escaped.text } : escaped;
}

/** `text` (a name or a link target) in the canonical escaped form, or why it is not in the escaped form. */
export function canonicalEscape(
  text: string,
): { ok: true; text: string } | { ok: false; problem: 'malformed'; message: string } {
  try {
    return { ok: true, text: canonicalFileName(text) };
  } catch (error) {
    if (!(error instanceof FileNameSyntaxError)) throw error;
    return {
      ok: false,
      problem: 'malformed',
      message: `name not in the escaped form of docs/file-names.md: ${error.message}`,
    };
  }
}

/** Shortens text for a finding, so one absurd line cannot bloat evidence; control characters are escaped. */
export function excerpt(text: string, max = 120): string {
  const safe = printable(text);
  return safe.length > max ? `${safe.slice(0, max)}…` : safe;
}

/**
 * Collects a manifest's entries and problems the same way for every format: path
 * normalisation and safety, duplicates, and the problem cap.
 */
export class ManifestBuilder {
  readonly files = new Map<string, ManifestEntry>();
  links: Map<string, { line: number; target: string }> | undefined;
  tables: Map<string, number> | undefined;
  tableDigests: Map<string, string> | undefined;
  readonly problems: ManifestProblem[] = [];
  problemsTotal = 0;

  constructor(
    readonly format: ManifestFormat,
    readonly ignored: readonly string[] = [],
  ) {}

  problem(problem: ManifestProblem): void {
    this.problemsTotal += 1;
    if (this.problems.length < MAX_MANIFEST_PROBLEMS) this.problems.push(problem);
  }

  /** Adds a file entry listed at `entry.line` under the raw path; records a problem instead when it is unusable. */
  addFile(rawPath: string, entry: ManifestEntry): void {
    const normalised = normaliseManifestPath(rawPath);
    if (!normalised.ok) {
      this.problem({
        line: entry.line,
        problem: normalised.problem,
        item: excerpt(rawPath),
        message: normalised.message,
      });
      return;
    }
    const first = this.files.get(normalised.path);
    if (first === undefined) {
      this.files.set(normalised.path, entry);
      return;
    }
    // Listing a file twice with the same expectation is harmless; differing expectations cannot both hold.
    const same =
      first.sha256 === entry.sha256 && first.digest === entry.digest && first.size === entry.size;
    if (!same) {
      this.problem({
        line: entry.line,
        problem: 'duplicate',
        item: normalised.path,
        message: `listed again with a different checksum or size (first at line ${first.line})`,
      });
    }
  }

  /** Adds a symbolic link listed at `line`; an unusable path or a second, different target is a problem. */
  addLink(rawPath: string, rawTarget: string, line: number): void {
    const normalised = normaliseManifestPath(rawPath);
    if (!normalised.ok) {
      this.problem({
        line,
        problem: normalised.problem,
        item: excerpt(rawPath),
        message: normalised.message,
      });
      return;
    }
    const escaped = canonicalEscape(rawTarget);
    if (!escaped.ok) {
      this.problem({
        line,
        problem: 'malformed',
        item: normalised.path,
        message: `link target: ${escaped.message}`,
      });
      return;
    }
    const target = escaped.text;
    this.links ??= new Map();
    const first = this.links.get(normalised.path);
    if (first === undefined) this.links.set(normalised.path, { line, target });
    else if (first.target !== target)
      this.problem({
        line,
        problem: 'duplicate',
        item: normalised.path,
        message: `link listed again with a different target (first at line ${first.line})`,
      });
  }

  addTable(name: string, rows: number, line: number, digest?: string): void {
    this.tables ??= new Map();
    const first = this.tables.get(name);
    if (first !== undefined && first !== rows) {
      this.problem({
        line,
        problem: 'duplicate',
        item: name,
        message: `table listed again with ${rows} rows (first with ${first})`,
      });
      return;
    }
    this.tables.set(name, rows);
    if (digest !== undefined) (this.tableDigests ??= new Map()).set(name, digest);
  }

  build(): Manifest {
    return {
      format: this.format,
      files: this.files,
      ...(this.links ? { links: this.links } : {}),
      ...(this.tables ? { tables: this.tables } : {}),
      ...(this.tableDigests ? { tableDigests: this.tableDigests } : {}),
      problems: this.problems,
      problemsTotal: this.problemsTotal,
      ignored: this.ignored,
    };
  }
}

import { walRangeSchema, type WalRange } from './wal-ranges.js';
import { createHash, type Hash } from 'node:crypto';
import { z } from 'zod';
import type { ChecksumAlgorithm } from './hash-file.js';
import { excerpt, ManifestBuilder, ManifestReadError, type Manifest } from './manifest.js';
import { readJsonManifest } from './read-json-manifest.js';

/** pg_basebackup's checksum algorithm names, and ours; NONE records sizes only. */
const PG_ALGORITHMS = {
  NONE: null,
  CRC32C: 'crc32c',
  SHA224: 'sha224',
  SHA256: 'sha256',
  SHA384: 'sha384',
  SHA512: 'sha512',
} as const satisfies Record<string, ChecksumAlgorithm | null>;
const DIGEST_HEX_LENGTH: Record<ChecksumAlgorithm, number> = {
  crc32c: 8,
  sha224: 56,
  sha256: 64,
  sha384: 96,
  sha512: 128,
};

/**
 * Files pg_verifybackup leaves out by default: the manifest itself, WAL (checked
 * against WAL-Ranges by other means), and files `pg_basebackup -R` writes or rewrites.
 */
export const PG_IGNORED_PATHS = [
  'backup_manifest',
  'pg_wal/',
  'postgresql.auto.conf',
  'recovery.signal',
  'standby.signal',
] as const;

/** One entry of a backup_manifest's "Files" list, as pg_basebackup writes it. */
export const pgManifestFileSchema = z
  .strictObject({
    Path: z.string().optional(),
    'Encoded-Path': z
      .string()
      .regex(/^(?:[0-9a-fA-F]{2})+$/, { message: 'expected hex digits, two per byte' })
      .optional(),
    Size: z.number().int().nonnegative(),
    'Last-Modified': z.string().optional(),
    'Checksum-Algorithm': z
      .enum(
        Object.keys(PG_ALGORITHMS) as [
          keyof typeof PG_ALGORITHMS,
          ...(keyof typeof PG_ALGORITHMS)[],
        ],
      )
      .optional(),
    Checksum: z
      .string()
      .regex(/^[0-9a-fA-F]*$/, { message: 'expected hex digits' })
      .optional(),
  })
  .refine((file) => (file.Path === undefined) !== (file['Encoded-Path'] === undefined), {
    message: "expected exactly one of 'Path' or 'Encoded-Path'",
  })
  .refine((file) => file['Checksum-Algorithm'] !== undefined || file.Checksum === undefined, {
    message: "'Checksum' without 'Checksum-Algorithm'",
  });

/**
 * SHA-256 of everything up to and including the file's second-to-last newline: what
 * pg_basebackup puts in "Manifest-Checksum" (the last line holds the checksum itself).
 * Streams with two hash snapshots per chunk, so memory does not grow with line length.
 */
export class ManifestChecksum {
  private running: Hash = createHash('sha256');
  private atLast: Hash | null = null;
  private atPrevious: Hash | null = null;
  private newlines = 0;
  private lastByte = -1;

  update(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.lastByte = chunk[chunk.length - 1]!;
    const last = chunk.lastIndexOf(0x0a);
    if (last === -1) {
      this.running.update(chunk);
      return;
    }
    const previous = last === 0 ? -1 : chunk.lastIndexOf(0x0a, last - 1);
    if (previous === -1) {
      this.running.update(chunk.subarray(0, last + 1));
      this.snapshot();
    } else {
      this.running.update(chunk.subarray(0, previous + 1));
      this.snapshot();
      this.running.update(chunk.subarray(previous + 1, last + 1));
      this.snapshot();
    }
    this.running.update(chunk.subarray(last + 1));
  }

  /** Records that `running` now ends on a newline (only a chunk's last two matter, so `newlines` is a lower bound). */
  private snapshot(): void {
    this.newlines += 1;
    this.atPrevious = this.atLast;
    this.atLast = this.running.copy();
  }

  /** The checksum, or why the file cannot carry one. */
  digest(): { ok: true; hex: string } | { ok: false; message: string } {
    if (this.newlines < 2) return { ok: false, message: 'expected at least 2 lines' };
    if (this.lastByte !== 0x0a) return { ok: false, message: 'last line not newline-terminated' };
    return { ok: true, hex: this.atPrevious!.digest('hex') };
  }
}

/**
 * Reads a PostgreSQL backup_manifest (versions 1 and 2), streaming: verifies its own
 * "Manifest-Checksum", and lists each file with its size and checksum. Entries that are
 * malformed or unsafe, and a checksum mismatch, become problems; a file that is not a
 * backup manifest at all throws ManifestReadError.
 */
export async function parseBackupManifest(
  path: string,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<Manifest> {
  const builder = new ManifestBuilder('backup_manifest', PG_IGNORED_PATHS);
  const checksum = new ManifestChecksum();
  let version: unknown;
  let stated: { hex: unknown; line: number } | undefined;
  let sawFiles = false;
  const walRanges: WalRange[] = [];

  await readJsonManifest(
    path,
    (event) => {
      if (event.kind === 'array') {
        if (event.key === 'Files') sawFiles = true;
        else if (event.key !== 'WAL-Ranges') unknownField(builder, event.key, event.line);
        return;
      }
      if (event.kind === 'element') {
        if (event.key === 'Files') addFile(builder, event.line, event.value, event.error);
        else if (event.key === 'WAL-Ranges') addWalRange(builder, walRanges, event);
        return;
      }
      if (event.key === 'PostgreSQL-Backup-Manifest-Version') version = event.value;
      else if (event.key === 'Manifest-Checksum') stated = { hex: event.value, line: event.line };
      else if (event.key === 'Files' || event.key === 'WAL-Ranges') {
        throw new ManifestReadError(`line ${event.line}: "${event.key}" is not a list`);
      } else if (event.key !== 'System-Identifier') unknownField(builder, event.key, event.line);
    },
    { signal: options.signal, onBytes: (chunk) => checksum.update(chunk) },
  );

  if (version === undefined)
    throw new ManifestReadError(
      'not a PostgreSQL backup manifest: no "PostgreSQL-Backup-Manifest-Version"',
    );
  if (version !== 1 && version !== 2)
    throw new ManifestReadError(
      `unsupported PostgreSQL-Backup-Manifest-Version ${JSON.stringify(version)}; expected 1 or 2`,
    );
  if (!sawFiles) throw new ManifestReadError('not a PostgreSQL backup manifest: no "Files" list');

  const computed = checksum.digest();
  if (stated === undefined) {
    builder.problem({
      line: null,
      problem: 'manifest-checksum',
      item: 'Manifest-Checksum',
      message: 'the manifest has no "Manifest-Checksum"',
    });
  } else if (!computed.ok) {
    builder.problem({
      line: stated.line,
      problem: 'manifest-checksum',
      item: 'Manifest-Checksum',
      message: `cannot verify the manifest's checksum: ${computed.message}`,
    });
  } else if (typeof stated.hex !== 'string' || stated.hex.toLowerCase() !== computed.hex) {
    builder.problem({
      line: stated.line,
      problem: 'manifest-checksum',
      item: 'Manifest-Checksum',
      message: `the manifest's own checksum does not match (states ${excerpt(String(stated.hex), 70)}, computed ${computed.hex}): it was altered or damaged`,
    });
  }
  return { ...builder.build(), walRanges };
}

function addWalRange(
  builder: ManifestBuilder,
  ranges: WalRange[],
  event: { line: number; value?: unknown; error?: string | undefined },
): void {
  const parsed = event.error === undefined ? walRangeSchema.safeParse(event.value) : undefined;
  if (parsed?.success) {
    ranges.push(parsed.data);
    return;
  }
  builder.problem({
    line: event.line,
    problem: 'malformed',
    item: 'WAL-Ranges',
    message:
      event.error ??
      parsed!
        .error!.issues.map((issue) => `${issue.path.join('.') || 'entry'}: ${issue.message}`)
        .join('; '),
  });
}

function unknownField(builder: ManifestBuilder, key: string, line: number): void {
  builder.problem({
    line,
    problem: 'malformed',
    item: key,
    message: `unexpected top-level field "${excerpt(key, 60)}"`,
  });
}

function addFile(
  builder: ManifestBuilder,
  line: number,
  value: unknown,
  error: string | undefined,
): void {
  const parsed = error === undefined ? pgManifestFileSchema.safeParse(value) : undefined;
  if (parsed === undefined || !parsed.success) {
    const message =
      error ??
      parsed!
        .error!.issues.map((issue) =>
          issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message,
        )
        .join('; ');
    builder.problem({ line, problem: 'malformed', item: describeEntry(value), message });
    return;
  }
  const file = parsed.data;
  const rawPath = file.Path ?? Buffer.from(file['Encoded-Path']!, 'hex').toString('utf8');
  const algorithm = PG_ALGORITHMS[file['Checksum-Algorithm'] ?? 'NONE'];
  if (algorithm === null) {
    builder.addFile(rawPath, { line, size: file.Size });
    return;
  }
  const digest = (file.Checksum ?? '').toLowerCase();
  if (digest.length !== DIGEST_HEX_LENGTH[algorithm]) {
    builder.problem({
      line,
      problem: 'malformed',
      item: excerpt(rawPath),
      message: `a ${file['Checksum-Algorithm']} checksum has ${DIGEST_HEX_LENGTH[algorithm]} hex digits, found ${digest.length}`,
    });
    return;
  }
  builder.addFile(
    rawPath,
    algorithm === 'sha256'
      ? { line, size: file.Size, sha256: digest }
      : { line, size: file.Size, algorithm, digest },
  );
}

function describeEntry(value: unknown): string {
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if (typeof record.Path === 'string') return excerpt(record.Path);
    if (typeof record['Encoded-Path'] === 'string') return excerpt(record['Encoded-Path']);
  }
  return excerpt(JSON.stringify(value) ?? String(value), 60);
}

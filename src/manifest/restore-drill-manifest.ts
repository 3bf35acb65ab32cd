import { once } from 'node:events';
import { opendir, readlink } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import type { Writable } from 'node:stream';
import { z } from 'zod';
import { fileNameOf, fsPath } from '../model/file-name.js';
import { countRecords, recognise, type RecordCount } from '../records/count-records.js';
import { hashFile } from './hash-file.js';
import { excerpt, ManifestBuilder, ManifestReadError, type Manifest } from './manifest.js';
import { readJsonManifest } from './read-json-manifest.js';

/** The `format` value that marks a restore-drill manifest. */
export const RESTORE_DRILL_MANIFEST_FORMAT = 'restore-drill-manifest';

/** Records counted at backup time: rows of a CSV/TSV (header excluded) or JSON Lines file, or rows per table of a SQLite file. */
export const recordCountSchema = z
  .union([z.number().int().nonnegative(), z.record(z.string(), z.number().int().nonnegative())])
  .describe(
    'Records in the file at backup time: a count for CSV, TSV and JSON Lines (the CSV header line is not a record), or { table: rows } for a SQLite database.',
  );

/** One file as recorded at backup time. */
export const manifestFileSchema = z
  .strictObject({
    path: z.string().min(1).describe('Path relative to the backed-up folder, `/` separated.'),
    size: z.number().int().nonnegative().describe('Size in bytes.'),
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, { message: 'expected a SHA-256 of 64 hex digits' })
      .transform((hex) => hex.toLowerCase())
      .describe('SHA-256 of the content, hex.'),
    records: recordCountSchema.optional(),
  })
  .describe('A file the restore must reproduce.');

/** One symbolic link as recorded at backup time: its content is its target string. */
export const manifestLinkSchema = z
  .strictObject({
    path: z.string().min(1).describe('Path of the link relative to the backed-up folder.'),
    target: z
      .string()
      .min(1)
      .describe('The target exactly as stored in the link (relative, absolute or dangling).'),
  })
  .describe('A symbolic link the restore must reproduce, with the same target.');

/** One table with the row count it had at backup time. */
export const manifestTableSchema = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .describe('Table name, schema-qualified when not in the default schema.'),
    rows: z.number().int().nonnegative().describe('Row count at backup time.'),
    digest: z
      .string()
      .regex(/^[0-9a-f]{32}$/, { message: 'expected a table digest of 32 hex digits' })
      .optional()
      .describe(
        "Order-independent digest of the table's rows at backup time (restore-drill manifest --database); a restore whose rows differ in any value fails the tables check.",
      ),
  })
  .describe('A table the restore must reproduce, by row count (and content digest).');

/** Everything but the lists: read first by the streaming parser, checked once the file ends. */
export const restoreDrillManifestHeaderSchema = z.strictObject({
  format: z.literal(RESTORE_DRILL_MANIFEST_FORMAT),
  version: z.literal(1),
  createdAt: z.iso.datetime({ offset: true }).describe('When the manifest was written (ISO 8601).'),
  source: z
    .string()
    .optional()
    .describe('What was described: a folder, a host, a database; free text.'),
});

/** The JSON manifest `restore-drill manifest PATH` writes at backup time. */
export const restoreDrillManifestSchema = restoreDrillManifestHeaderSchema
  .extend({
    files: z.array(manifestFileSchema),
    links: z.array(manifestLinkSchema).optional(),
    tables: z.array(manifestTableSchema).optional(),
  })
  .describe("restore-drill's manifest of expected files (and tables).");

/** A restore-drill manifest document, as parsed. */
export type RestoreDrillManifest = z.output<typeof restoreDrillManifestSchema>;
/** One file entry, as parsed (hex lower-cased). */
export type ManifestFileRecord = z.output<typeof manifestFileSchema>;

function issues(error: z.ZodError): string {
  return error.issues
    .map((issue) =>
      issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message,
    )
    .join('; ');
}

/**
 * Reads a restore-drill manifest, streaming: each file and table entry is checked
 * against its schema as it arrives (a bad one is a problem naming its line); a header
 * that is missing or wrong throws ManifestReadError.
 */
export async function parseRestoreDrillManifest(
  path: string,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<Manifest> {
  const builder = new ManifestBuilder('restore-drill');
  const header: Record<string, unknown> = {};
  let sawFiles = false;

  await readJsonManifest(
    path,
    (event) => {
      const list = event.key === 'files' || event.key === 'tables' || event.key === 'links';
      if (event.kind === 'array') {
        if (event.key === 'files') sawFiles = true;
        if (event.key === 'tables') builder.tables ??= new Map();
        if (event.key === 'links') builder.links ??= new Map();
        // Unknown lists go to the header, whose strict schema names them.
        if (!list) header[event.key] = [];
        return;
      }
      if (event.kind === 'member') {
        if (list) throw new ManifestReadError(`line ${event.line}: "${event.key}" is not a list`);
        if (event.error !== undefined)
          throw new ManifestReadError(
            `line ${event.line}: "${excerpt(event.key, 60)}" is ${event.error}`,
          );
        header[event.key] = event.value;
        return;
      }
      if (event.key === 'files') addFile(builder, event.line, event.value, event.error);
      else if (event.key === 'links')
        addParsed(builder, manifestLinkSchema, event, (link) =>
          builder.addLink(link.path, link.target, event.line),
        );
      else if (event.key === 'tables')
        addParsed(builder, manifestTableSchema, event, (table) =>
          builder.addTable(table.name, table.rows, event.line, table.digest),
        );
    },
    options,
  );

  if (header.format !== RESTORE_DRILL_MANIFEST_FORMAT) {
    throw new ManifestReadError(
      `not a restore-drill manifest: "format" is ${excerpt(JSON.stringify(header.format) ?? 'missing', 60)}; expected "${RESTORE_DRILL_MANIFEST_FORMAT}"`,
    );
  }
  const checked = restoreDrillManifestHeaderSchema.safeParse(header);
  if (!checked.success)
    throw new ManifestReadError(`invalid restore-drill manifest: ${issues(checked.error)}`);
  if (!sawFiles)
    throw new ManifestReadError('invalid restore-drill manifest: files: expected a list');
  return builder.build();
}

function addFile(
  builder: ManifestBuilder,
  line: number,
  value: unknown,
  error: string | undefined,
): void {
  const parsed = error === undefined ? manifestFileSchema.safeParse(value) : undefined;
  if (parsed?.success) {
    builder.addFile(parsed.data.path, {
      line,
      size: parsed.data.size,
      sha256: parsed.data.sha256,
      ...(parsed.data.records !== undefined ? { records: parsed.data.records } : {}),
    });
    return;
  }
  const item =
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { path?: unknown }).path === 'string'
      ? (value as { path: string }).path
      : (JSON.stringify(value) ?? '');
  builder.problem({
    line,
    problem: 'malformed',
    item: excerpt(item, 60),
    message: error ?? issues(parsed!.error!),
  });
}

/** Adds one link or table entry through `add`, or records the entry as malformed, naming its line. */
function addParsed<T>(
  builder: ManifestBuilder,
  schema: z.ZodType<T>,
  entry: { line: number; value?: unknown; error?: string | undefined },
  add: (data: T) => void,
): void {
  const parsed = entry.error === undefined ? schema.safeParse(entry.value) : undefined;
  if (parsed?.success) {
    add(parsed.data);
    return;
  }
  builder.problem({
    line: entry.line,
    problem: 'malformed',
    item: excerpt(JSON.stringify(entry.value) ?? '', 60),
    message: entry.error ?? issues(parsed!.error!),
  });
}

/** How writeManifestForFolder describes and walks the folder. */
export interface WriteManifestOptions {
  /** Recorded as `source`: what the manifest describes, free text. */
  source?: string;
  /** Paths relative to the folder to leave out, such as the manifest being written inside it. */
  exclude?: readonly string[];
  /** Count the records of every CSV/TSV/JSONL/SQLite file recognised (default true). */
  records?: boolean;
  /** Files hashed at once; results are written in walk order whatever finishes first. */
  concurrency?: number;
  signal?: AbortSignal | undefined;
}

/** What writing a manifest covered, and what it left out. */
export interface WriteManifestResult {
  files: number;
  bytes: number;
  /** Symbolic links listed with their targets (never followed). */
  links: number;
  /** Entries that are neither regular files nor links (sockets, FIFOs, devices): not listed. */
  skipped: { path: string; reason: string }[];
  /** Files whose records were counted. */
  counted: number;
  /** Files recognised by name whose records could not be counted (listed without `records`), and why. */
  uncounted: { path: string; reason: string }[];
}

/** The file's records when its name says it holds some; a file that does not parse is noted and listed without. */
async function recordsOf(
  file: string,
  path: string,
  result: WriteManifestResult,
  signal: AbortSignal | undefined,
): Promise<RecordCount | undefined> {
  const format = await recognise(file);
  if (format === null) return undefined;
  try {
    const records = await countRecords(file, format, { signal });
    result.counted += 1;
    return records;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== undefined) throw error;
    result.uncounted.push({ path, reason: (error as Error).message });
    return undefined;
  }
}

/**
 * Walks `root` depth first in name order, yielding relative `/` paths of regular files
 * (names read as bytes, in the escaped form of `model/file-name.ts`); symbolic links go
 * to `links` (path and target, never followed).
 */
async function* walk(
  root: string,
  prefix: string,
  skipped: WriteManifestResult['skipped'],
  links: { path: string; target: string }[],
  signal: AbortSignal | undefined,
): AsyncGenerator<string> {
  const entries: { name: string; kind: 'dir' | 'file' | string }[] = [];
  // Node's types omit it, but opendir reads names as bytes with `encoding: 'buffer'`.
  const dir = await opendir(fsPath(root, prefix), { encoding: 'buffer' as BufferEncoding });
  for await (const entry of dir as AsyncIterable<Dirent<Buffer>>) {
    const kind = entry.isDirectory()
      ? 'dir'
      : entry.isFile()
        ? 'file'
        : entry.isSymbolicLink()
          ? 'symbolic link'
          : 'not a regular file';
    entries.push({ name: fileNameOf(entry.name), kind });
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    signal?.throwIfAborted();
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.kind === 'dir') yield* walk(root, relative, skipped, links, signal);
    else if (entry.kind === 'file') yield relative;
    else if (entry.kind === 'symbolic link')
      links.push({
        path: relative,
        target: fileNameOf(await readlink(fsPath(root, relative), { encoding: 'buffer' })),
      });
    else skipped.push({ path: relative, reason: entry.kind });
  }
}

/**
 * Walks a folder and writes a restore-drill manifest of every regular file (and every
 * symbolic link, by its target) to `output`
 * (which it does not end), hashing with bounded concurrency and writing one entry per
 * line in a stable order, so memory stays flat however many files there are.
 * Throws when a file cannot be read: a manifest silently missing a file would be worse.
 */
export async function writeManifestForFolder(
  dir: string,
  output: Writable,
  options: WriteManifestOptions = {},
): Promise<WriteManifestResult> {
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const exclude = new Set(options.exclude ?? []);
  const result: WriteManifestResult = {
    files: 0,
    bytes: 0,
    links: 0,
    skipped: [],
    counted: 0,
    uncounted: [],
  };
  const links: { path: string; target: string }[] = [];
  const withRecords = options.records ?? true;
  const write = async (text: string): Promise<void> => {
    if (!output.write(text)) await once(output, 'drain', { signal: options.signal });
  };

  const header = {
    format: RESTORE_DRILL_MANIFEST_FORMAT,
    version: 1,
    createdAt: new Date().toISOString(),
    ...(options.source !== undefined ? { source: options.source } : {}),
  };
  const opening = JSON.stringify(header);
  await write(`${opening.slice(0, -1)},"files":[`);

  const pending: Promise<ManifestFileRecord>[] = [];
  const flush = async (): Promise<void> => {
    const record = await pending.shift()!;
    await write(`${result.files === 0 ? '' : ','}\n${JSON.stringify(record)}`);
    result.files += 1;
    result.bytes += record.size;
  };
  try {
    for await (const path of walk(dir, '', result.skipped, links, options.signal)) {
      if (exclude.has(path)) continue;
      const file = fsPath(dir, path);
      const hashing = Promise.all([
        hashFile(file, ['sha256'], { signal: options.signal }),
        // Record counters take text paths: a name that is not UTF-8 is listed without records.
        withRecords && typeof file === 'string'
          ? recordsOf(file, path, result, options.signal)
          : undefined,
      ]).then(
        ([digest, records]) => ({
          path,
          size: digest.size,
          sha256: digest.digests.sha256!,
          ...(records !== undefined ? { records } : {}),
        }),
        (error: NodeJS.ErrnoException) => {
          throw new Error(`cannot read ${dir}/${path}: ${error.code ?? error.message}`, {
            cause: error,
          });
        },
      );
      // Awaited in order below; this only keeps a failure from being reported as unhandled meanwhile.
      hashing.catch(() => {});
      pending.push(hashing);
      if (pending.length >= concurrency) await flush();
    }
    while (pending.length > 0) await flush();
  } finally {
    // Let hashes still running settle before the caller removes anything.
    await Promise.allSettled(pending);
  }
  await write('\n]');
  // Links after the files: they are few, and the files list streams as the walk runs.
  const listed = links.filter((link) => !exclude.has(link.path));
  if (listed.length > 0) {
    await write(',"links":[');
    for (const [index, link] of listed.entries())
      await write(`${index === 0 ? '' : ','}\n${JSON.stringify(link)}`);
    await write('\n]');
  }
  result.links = listed.length;
  await write('}\n');
  return result;
}

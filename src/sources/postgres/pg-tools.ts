import {
  CRASH_SIGNALS,
  describeExit,
  lastLine,
  runCommand,
  type CommandResult,
} from '../../exec/run-command.js';
import { type ExecRecord } from '../../model/exec-record.js';
import {
  closed,
  CompressedDataError,
  isCompressedDataError,
  openDecompressed,
} from '../decompress.js';
import { BackupDamagedError } from '../restore-source.js';
import { judgeStatementFailure, statementFailure } from './statement-damage.js';
import { SourceError, type RefusedEntry } from '../../model/restore.js';

/** One TABLE DATA entry of an archive's table of contents: what sampling picks from. */
export interface TocTableData {
  /** `schema.table`. */
  name: string;
  /** The TOC line as `pg_restore -l` printed it, for `-L` lists. */
  line: string;
}

/** An archive's table of contents, as `pg_restore -l` lists it. */
export interface ArchiveToc {
  /** The database the dump was taken from (`; dbname:` in the header). */
  dbname: string | null;
  /** The major version of the pg_dump that made it (`; Dumped by pg_dump version:`). */
  pgDumpMajor: number | null;
  /** Every entry line (comments left out), in order. */
  entries: string[];
  tableData: TocTableData[];
}

/** Options shared by the pg_restore and psql runs. */
export interface ToolRun {
  env: Record<string, string | undefined>;
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** `15.18` from `pg_restore (PostgreSQL) 15.18 (Debian …)`; null when the tool will not say. */
export async function toolVersion(binary: string, signal?: AbortSignal): Promise<string | null> {
  const result = await runCommand(binary, ['--version'], { timeoutMs: 30_000, signal });
  if (result.exitCode !== 0) return null;
  return /\(PostgreSQL\)\s+(\d+(?:\.\d+)?)/.exec(result.stdoutTail)?.[1] ?? null;
}

/** Reads the archive's TOC with `pg_restore -l`; failures are mapped like a restore's. */
export async function listArchive(
  binary: string,
  dump: string,
  run: ToolRun,
): Promise<{ toc: ArchiveToc; record: ExecRecord }> {
  // Reading the TOC is quick whatever the dump's size; the restore's timeout is for the restore.
  const result = await runCommand(binary, ['-l', dump], {
    env: run.env,
    signal: run.signal,
    keepStdout: true,
    timeoutMs: 300_000,
  });
  if (result.exitCode !== 0 || result.timedOut || result.canceled) {
    run.signal?.throwIfAborted();
    // Listing reads only the local file: a pg_restore that crashes there was undone by its bytes.
    if (!result.timedOut && !result.canceled && CRASH_SIGNALS.has(result.signal ?? '')) {
      const detail = `pg_restore -l crashed (${result.signal}) reading the table of contents`;
      throw archiveDamage(dump, result, detail);
    }
    throw await restoreFailure(binary, dump, result, run.signal);
  }
  return { toc: parseToc(result.stdout), record: withoutStdout(result) };
}

/** Parses `pg_restore -l` output. */
export function parseToc(text: string): ArchiveToc {
  const toc: ArchiveToc = { dbname: null, pgDumpMajor: null, entries: [], tableData: [] };
  for (const line of text.split('\n')) {
    if (line.startsWith(';')) {
      const dbname = /^;\s+dbname:\s+(.*)$/.exec(line);
      if (dbname) toc.dbname = (dbname[1] as string).trim();
      const dumpedBy = /^;\s+Dumped by pg_dump version:\s+(\d+)/.exec(line);
      if (dumpedBy) toc.pgDumpMajor = Number(dumpedBy[1]);
      continue;
    }
    if (line.trim() === '') continue;
    toc.entries.push(line);
    // `3358; 0 16391 TABLE DATA public pgbench_accounts postgres`: schema, name, owner.
    const data = /^\d+;\s+\d+\s+\d+\s+TABLE DATA\s+(\S+)\s+(.+?)(?:\s+(\S+))?$/.exec(line);
    if (data) toc.tableData.push({ name: `${data[1]}.${data[2]}`, line });
  }
  return toc;
}

/** pg_restore into `url` (no password in it): returns the record, and entries that failed while the rest restored. */
export async function pgRestore(
  binary: string,
  dump: string,
  url: string,
  options: ToolRun & {
    jobs: number | null;
    list: string | null;
    toc?: ArchiveToc | null;
    /** The scratch server's major version, to judge a statement of the archive that fails. */
    targetMajor?: number | null;
  },
): Promise<{ record: ExecRecord; failed: RefusedEntry[] }> {
  const args = ['--no-owner', '--no-acl', '--no-password'];
  if (options.jobs !== null && options.jobs > 1) args.push('-j', String(options.jobs));
  if (options.list !== null) args.push('-L', options.list);
  args.push('-d', url, dump);
  const result = await runCommand(binary, args, options);
  if (result.exitCode === 0 && !result.timedOut && !result.canceled)
    return { record: result, failed: [] };
  options.signal?.throwIfAborted();
  // Without --exit-on-error pg_restore goes on past failing entries and says so at the end.
  if (result.exitCode === 1 && /errors ignored on restore: \d+/.test(result.stderrTail)) {
    return { record: result, failed: failedEntries(result.stderrTail) };
  }
  throw await restoreFailure(binary, dump, result, options.signal, options.toc ?? null, {
    dump: options.toc?.pgDumpMajor ?? null,
    target: options.targetMajor ?? null,
  });
}

/**
 * Entries pg_restore reported as failed: each `error:` line, named by the TOC entry it
 * was processing (serial restores say so) or else by the SQL it ran (`Command was:`,
 * which parallel restores give instead).
 */
export function failedEntries(stderr: string): RefusedEntry[] {
  const failed: { entry: string | null; reason: string }[] = [];
  let entry: string | null = null;
  for (const line of stderr.split('\n')) {
    const from = /^pg_restore: from TOC entry \d+;\s+\d+\s+\d+\s+(.*)$/.exec(line);
    if (from) {
      entry = describeTocEntry(from[1] as string);
      continue;
    }
    const error = /^pg_restore: error: (.*)$/.exec(line);
    if (error) {
      failed.push({ entry, reason: (error[1] as string).trim() });
      entry = null;
      continue;
    }
    const command = /^Command was: (.*)$/.exec(line);
    const last = failed[failed.length - 1];
    if (command && last !== undefined && last.entry === null)
      last.entry = describeCommand(command[1] as string);
  }
  if (failed.length === 0) return [{ entry: 'pg_restore', reason: lastLine(stderr) }];
  return failed.map((item) => ({ entry: item.entry ?? 'pg_restore', reason: item.reason }));
}

/** `CREATE POLICY p ON public.t TO x USING (true);` → `CREATE POLICY p ON public.t`: enough to name the object. */
function describeCommand(sql: string): string {
  const words = sql.trim().replace(/;$/, '').split(/\s+/);
  const on = words.findIndex(
    (word, index) => index > 1 && /^(ON|TO|FROM|AS|USING|\()$/i.test(word),
  );
  const shown = words
    .slice(0, on > 0 && words[on]?.toUpperCase() === 'ON' ? on + 2 : on > 0 ? on : 4)
    .join(' ');
  return shown.length > 120 ? `${shown.slice(0, 120)}…` : shown;
}

/** `TABLE DATA public pgbench_accounts postgres` → `TABLE DATA public.pgbench_accounts`. */
function describeTocEntry(text: string): string {
  const match =
    /^(TABLE DATA|TABLE|INDEX|CONSTRAINT|FK CONSTRAINT|SEQUENCE SET|SEQUENCE OWNED BY|SEQUENCE|MATERIALIZED VIEW DATA|MATERIALIZED VIEW|VIEW|FUNCTION|PROCEDURE|AGGREGATE|SCHEMA|EXTENSION|TRIGGER|DEFAULT|POLICY|ROW SECURITY|TYPE|DOMAIN|RULE|COMMENT)\s+(\S+)\s+(\S+)/.exec(
      text,
    );
  return match ? `${match[1]} ${match[2]}.${match[3]}` : text.trim();
}

/** psql `-f` of a plain dump, stopping at the first error. */
export async function psqlRestore(
  binary: string,
  dump: string,
  url: string,
  options: ToolRun & {
    /** Major versions of the pg_dump that made the dump and of the server, to judge a failed statement. */
    versions: { dump: number | null; target: number | null };
  },
): Promise<ExecRecord> {
  // A compressed dump is decompressed into psql's stdin; a plain one psql reads itself.
  const opened = await openDecompressed(dump, { signal: options.signal, label: 'dump' });
  let damage: Error | null = null;
  opened.stream.on('error', (error) => {
    if (isCompressedDataError(error)) damage ??= error;
  });
  const compressed = opened.compression !== 'none';
  if (!compressed) opened.stream.destroy();
  let result;
  try {
    result = await runCommand(
      binary,
      [
        '-X',
        '-q',
        '--no-password',
        '-v',
        'ON_ERROR_STOP=1',
        // The failing statement's SQLSTATE and CONTEXT, to tell a damaged dump from a target it needs.
        '-v',
        'VERBOSITY=verbose',
        '-d',
        url,
        '-f',
        compressed ? '-' : dump,
      ],
      compressed ? { ...options, inputStream: opened.stream } : options,
    );
  } finally {
    opened.stream.destroy();
    await closed(opened.stream);
  }
  options.signal?.throwIfAborted();
  const evidence = { commands: [result] };
  if (damage !== null)
    throw new BackupDamagedError(
      `plain dump ${dump}: ${describeDamage(damage)}`,
      { detail: describeDamage(damage), entry: null, offset: null },
      { files: [], refused: [], commands: [result] },
    );
  if (result.exitCode === 0 && !result.timedOut && !result.canceled) return result;
  // The failed psql run, with its exit and stderr tail, is the evidence of the cause.
  if (result.timedOut)
    throw new SourceError(`psql restoring ${dump} ${describeExit(result)}`, false, evidence);
  const failure = /^psql:(.*?):(\d+): ERROR:\s+(?:([0-9A-Z]{5}):\s+)?(.*)$/m.exec(
    result.stderrTail,
  );
  if (failure)
    throw statementFailure(dump, {
      line: Number(failure[2]),
      message: `ERROR: ${failure[4]}`,
      sqlState: failure[3] ?? null,
      context: /^CONTEXT:\s+(.*)$/m.exec(result.stderrTail.slice(failure.index))?.[1] ?? null,
      versions: options.versions,
      commands: evidence.commands,
    });
  throw new SourceError(
    `psql could not restore ${dump}: ${connectionProblem(result.stderrTail) ?? describeExit(result)}`,
    false,
    evidence,
  );
}

/** The one-line cause of a pg_restore run that failed outright, keeping the run (exit, stderr tail) as evidence. */
async function restoreFailure(
  binary: string,
  dump: string,
  result: CommandResult,
  signal: AbortSignal | undefined,
  toc: ArchiveToc | null = null,
  versions: { dump: number | null; target: number | null } | null = null,
): Promise<SourceError | BackupDamagedError> {
  const failure = await classifyRestoreFailure(binary, dump, result, signal, toc, versions);
  return failure instanceof SourceError
    ? failure.withCommandsBefore([withoutStdout(result)])
    : failure;
}

async function classifyRestoreFailure(
  binary: string,
  dump: string,
  result: CommandResult,
  signal: AbortSignal | undefined,
  toc: ArchiveToc | null,
  versions: { dump: number | null; target: number | null } | null,
): Promise<SourceError | BackupDamagedError> {
  const stderr = result.stderrTail;
  if (result.timedOut) return new SourceError(`pg_restore of ${dump} ${describeExit(result)}`);
  if (result.exitCode === null && !result.signal)
    return new SourceError(`cannot run ${binary}: ${lastLine(stderr)}`, false, {
      code: 'tool.missing',
    });
  const newer = /unsupported version \((\d+)\.(\d+)\) in file header/.exec(stderr);
  // Every pg_dump since 2001 writes archive format 1.x: another major is a damaged header.
  if (newer && newer[1] !== '1') {
    const detail = `its header gives archive format ${newer[1]}.${newer[2]}, which no pg_dump writes (1.x)`;
    return archiveDamage(dump, result, detail, 'is damaged or not a pg_dump archive');
  }
  if (newer) {
    const version = await toolVersion(binary, signal);
    return new SourceError(
      `dump ${dump} was made by a newer pg_dump than pg_restore ${version ?? '(unknown version)'} (archive format ${newer[1]}.${newer[2]}); use a pg_restore of the dump's major version or newer (source.pgRestore)`,
    );
  }
  // The dump was read and its data is bad: a finding (`failed`), with the command as evidence.
  const damaged = firstMatch(stderr, [
    /did not find magic string in file header/,
    /input file does not appear to be a valid archive.*/,
    /input file is too short.*/,
    /could not uncompress data: .*/,
    /could not read from input file: .*/,
    /unexpected end of file/,
    /corrupt tar header.*/,
    /could not find block ID \d+ in archive.*/,
    // The table of contents points at a data block that is not there (removed, or shifted).
    /found unexpected block ID \(\d+\) when reading data.*/,
    /unexpected data offset flag.*/,
    // The archive's ENCODING entry, garbled: every encoding a pg_dump writes is one pg_restore knows.
    /unrecognized encoding ".*"/,
    // The table of contents garbled in other ways pg_restore notices as it reads it.
    /invalid (ENCODING|STDSTRINGS) item: .*/,
    /entry ID -?\d+ out of range -- perhaps a corrupt TOC/,
    /bad dumpId|bad table dumpId for TABLE DATA item/,
    /could not find entry for ID -?\d+/,
    /unexpected section code -?\d+/,
    /invalid creation date in header/,
    /unrecognized file format "-?\d+"/,
    /invalid compression code: -?\d+/,
    /expected format \(\d+\) differs from format found in file \(\d+\)/,
    /sanity check on integer size \(\d+\) failed/,
    /file offset in dump file is too large/,
    /unexpected COPY statement syntax: .*/,
    /unrecognized data block type.*/,
    // Large objects: an OID garbled in the TOC or in a directory dump's blobs.toc.
    /invalid OID for large object.*/,
    /invalid line in large object TOC file .*/,
    // A tar dump without a member its TOC names.
    /could not find header for file "[^"]*" in tar archive/,
    /could not find file "[^"]*" in archive/,
    /error during file seek.*/,
    // A directory dump's table file cut short or gone: the folder was read, its data is not all there.
    /could not close data file .*/,
    /could not open input file "[^"]*\/\d+\.dat(?:\.gz|\.lz4|\.zst)?": .*/,
    /directory "[^"]*" does not appear to be a valid archive \("toc\.dat" does not exist\)/,
  ]);
  if (damaged) {
    const entry =
      /processing data for table "([^"]+)"/.exec(stderr)?.[1] ?? tableOfDataFile(damaged, toc);
    return archiveDamage(
      dump,
      result,
      damaged,
      'is damaged or not a pg_dump archive',
      entry === null ? null : `table ${entry}`,
    );
  }
  // A directory dump whose TOC names a data file the folder lacks (a garbled name).
  const lacking = /could not open input file "([^"]*)": No such file or directory/.exec(stderr);
  if (lacking && (lacking[1] as string).startsWith(`${dump}/`)) {
    const detail = (lacking[0] as string).trim();
    return archiveDamage(dump, result, detail);
  }
  // A statement of the archive pg_restore must run (a large object's lo_create) failed on its own text.
  const statement = STATEMENT_DAMAGE.find(({ pattern }) => pattern.test(stderr));
  if (statement && versions !== null) {
    const message = (statement.pattern.exec(stderr)?.[0] as string).trim();
    const judged = judgeStatementFailure(statement.sqlState, versions);
    if (judged.verdict === 'damage')
      return archiveDamage(
        dump,
        result,
        message,
        "is damaged: pg_restore could not run the archive's own statement",
      );
    if (judged.note !== null)
      return new SourceError(`pg_restore could not restore ${dump}: ${message}; ${judged.note}`);
  }
  // A large object the archive's data names but none of its entries made: a garbled OID. After
  // a failed statement (its lo_create, say) it is only what followed, and that statement decides.
  const missingObject =
    /could not open large object \d+: ERROR:\s+large object \d+ does not exist/.exec(stderr);
  if (missingObject && !/could not execute query: ERROR:/.test(stderr)) {
    const detail = missingObject[0];
    return archiveDamage(dump, result, detail, 'is damaged or not a pg_dump archive');
  }
  // Not there or not readable: the drill could not judge it.
  const unopened = /could not open input file .*/.exec(stderr)?.[0];
  if (unopened) return new SourceError(`cannot read dump ${dump}: ${unopened.trim()}`);
  const connection = connectionProblem(stderr);
  if (connection) return new SourceError(`pg_restore could not restore ${dump}: ${connection}`);
  const error = /pg_restore: error: (.*)/.exec(stderr)?.[1];
  return new SourceError(`pg_restore could not restore ${dump}: ${error ?? describeExit(result)}`);
}

/**
 * A failed statement pg_restore runs itself (fatally, unlike the entries it goes past),
 * by the server's words, with the SQLSTATE they stand for: judged as a plain dump's are.
 */
const STATEMENT_DAMAGE: readonly { pattern: RegExp; sqlState: string }[] = [
  { pattern: /ERROR:\s+(syntax error at or near|unterminated) .*/, sqlState: '42601' },
  { pattern: /ERROR:\s+invalid byte sequence for encoding .*/, sqlState: '22021' },
];

/** The archive was read and is damaged (`failed`), with the pg_restore run kept as evidence. */
function archiveDamage(
  dump: string,
  result: CommandResult,
  detail: string,
  said = 'is damaged',
  entry: string | null = null,
): BackupDamagedError {
  return new BackupDamagedError(
    `dump ${dump} ${said}: ${detail}`,
    { detail, entry, offset: null },
    { files: [], refused: [], commands: [withoutStdout(result)] },
  );
}

/** Credentials refused or server unreachable, as libpq words it. */
function connectionProblem(stderr: string): string | null {
  if (/password authentication failed|no password supplied|authentication failed/.test(stderr)) {
    return `the scratch server rejected the credentials: ${/FATAL:\s+(.*)/.exec(stderr)?.[1] ?? lastLine(stderr)}`;
  }
  const refused = /connection to server (.*?) failed: (.*)/.exec(stderr);
  if (refused) return `the scratch server is unreachable: ${refused[1]}: ${refused[2]}`;
  return null;
}

/** A directory dump's `3358.dat` is the data of TOC entry 3358: the table it holds, when the TOC says. */
function tableOfDataFile(message: string, toc: ArchiveToc | null): string | null {
  const id = /\/(\d+)\.dat\b/.exec(message)?.[1];
  if (id === undefined || toc === null) return null;
  return toc.tableData.find((entry) => entry.line.startsWith(`${id};`))?.name ?? null;
}

function firstMatch(text: string, patterns: RegExp[]): string | null {
  for (const pattern of patterns) {
    const match = pattern.exec(text);
    if (match) return match[0].trim();
  }
  return null;
}

function withoutStdout(result: CommandResult): ExecRecord {
  const { stdout: _stdout, ...record } = result;
  return record;
}

/** The decompressor's complaint; zlib's errors say only what went wrong, not that it was gzip. */
function describeDamage(error: Error): string {
  return error instanceof CompressedDataError
    ? error.message
    : `corrupt gzip data (${error.message})`;
}

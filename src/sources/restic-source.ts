import { randomBytes } from 'node:crypto';
import { lstat, readdir, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type { CheckResult, Finding } from '../model/check-result.js';
import { resultFromFindings } from '../model/check-result.js';
import { formatDuration } from '../model/duration.js';
import { redactor } from '../model/redact.js';
import {
  describeExit,
  lastLine,
  runCommand,
  type CommandResult,
  type RunCommandOptions,
} from '../exec/run-command.js';
import { type ExecRecord } from '../model/exec-record.js';
import type { Logger } from '../log/logger.js';
import {
  BackupDamagedError,
  type RestoreOptions,
  type RestoreOutcome,
  type RestoreSource,
} from './restore-source.js';
import {
  SourceError,
  type BackupDamage,
  type BackupSet,
  type RefusedEntry,
  type RestoredFile,
  type RestoredLink,
  type SetItem,
} from '../model/restore.js';
import { defineSourceKind, type SourceContext } from './source-kind.js';
import type { CauseCode } from '../model/causes.js';
import { decodeFileName, fileNameOf, fsPath } from '../model/file-name.js';
import { NO_SPACE } from '../scratch/space.js';
import { hashTree } from '../scratch/tree-hasher.js';
import { drillUser } from '../model/permission.js';

/** The oldest restic (0.x) this source is tested against: Debian 12's 0.14. */
const MIN_MINOR = 14;

import {
  localRepositoryPath,
  resticSourceConfigKind,
  SNAPSHOT_ID,
  type ResticSourceConfig,
} from './restic-source-config.js';

/** A snapshot as `restic snapshots --json` and `restic ls --json` describe it (the fields used here). */
export const resticSnapshotSchema = z.object({
  id: z.string().regex(SNAPSHOT_ID),
  short_id: z.string().optional(),
  time: z
    .string()
    .refine((text) => !Number.isNaN(Date.parse(text)), { message: 'expected an RFC 3339 time' }),
  hostname: z.string().default(''),
  paths: z.array(z.string()).default([]),
  tags: z.array(z.string()).nullish(),
  tree: z.string(),
});
export type ResticSnapshot = z.output<typeof resticSnapshotSchema>;

/** One `restic ls --json` line: 0.14 names its type in `struct_type`, newer releases also in `message_type`. */
const lsLineSchema = z.looseObject({
  message_type: z.string().optional(),
  struct_type: z.string().optional(),
});
const lsNodeSchema = z.object({
  type: z.string(),
  path: z.string().startsWith('/'),
  // restic omits zero values.
  size: z.number().int().nonnegative().default(0),
});

/** `s3:https://key:secret@host/bucket` → `s3:https://***@host/bucket`: a repository location fit for messages and evidence. */
export function redactRepository(repository: string): string {
  return redactor.redact(repository.replace(/(\/\/)[^/@]*:[^/@]*@/, '$1***@'));
}

/** The slice of a restic command's failure a caller acts on. */
interface ResticFailure {
  message: string;
  transient: boolean;
  /** The repository or the tool is at fault, not the data: never a check finding. */
  environment: boolean;
  /** The run's cause code when this failure ends the run (source.failed when absent). */
  code?: CauseCode;
}

const NETWORK_TROUBLE =
  /connection refused|no such host|i\/o timeout|timeout|network is unreachable|connection reset|TLS|x509|certificate|EOF|\b50[0234]\b|Service Unavailable|temporary failure/i;

/**
 * restic's last complaint, without `Fatal: ` and without the Go stack trace some errors print
 * after their message (`Unknown blob 6927…`, then `pkg.Func` / `\tfile.go:96` frames): the
 * trace's last line (`runtime/asm_amd64.s:1594`) says nothing of the repository.
 */
export function resticComplaint(stderr: string): string {
  const lines = stderr.trim().split('\n');
  const frame = lines.findIndex(
    (line, index) =>
      index > 0 && !line.startsWith('\t') && /^\t\S+\.(go|s):\d+$/.test(lines[index + 1] ?? ''),
  );
  const kept = frame > 0 ? lines.slice(0, frame) : lines;
  return (kept[kept.length - 1] ?? '').trim().replace(/^Fatal:\s*/, '');
}

/**
 * Maps how a restic command ended to a one-line cause. restic ≥ 0.17 documents exit codes
 * (10 no repository, 11 lock failed, 12 wrong password, doc/075_scripting.rst); 0.14 exits 1
 * for all of them, so its messages are matched too. Unknown codes are failures.
 */
export function classifyResticFailure(
  verb: string,
  record: ExecRecord,
  context: { repository: string; binary: string; passwordFile?: string | undefined },
): ResticFailure {
  const stderr = record.stderrTail;
  const repo = context.repository;
  const detail = resticComplaint(stderr);
  if (record.canceled)
    return { message: `restic ${verb} canceled`, transient: false, environment: true };
  if (record.timedOut)
    return {
      message: `restic ${verb} timed out after ${formatDuration(record.durationMs)}`,
      transient: false,
      environment: true,
    };
  if (record.exitCode === null && !record.signal) {
    return /ENOENT/.test(stderr)
      ? {
          message: `restic binary not found: ${context.binary}`,
          transient: false,
          environment: true,
          code: 'tool.missing',
        }
      : {
          message: `restic binary ${context.binary} could not be started: ${lastLine(stderr)}`,
          transient: false,
          environment: true,
          code: 'tool.missing',
        };
  }
  if (record.signal)
    return {
      message: `restic ${verb} was killed by ${record.signal}`,
      transient: false,
      environment: true,
    };
  if (record.exitCode === 12 || /wrong password or no key found/.test(stderr)) {
    return {
      // restic cannot tell a wrong password from a damaged key file: its own words say both.
      message: `restic repository ${repo}: wrong password or no key found`,
      transient: false,
      environment: true,
      code: 'source.auth',
    };
  }
  if (
    /Resolving password failed|empty password is not a password|reading repository password from stdin/.test(
      stderr,
    )
  ) {
    const what = context.passwordFile
      ? `cannot read password file ${context.passwordFile}`
      : 'no password';
    return {
      message: `restic repository ${repo}: ${what} (${detail})`,
      transient: false,
      environment: true,
      code: 'source.auth',
    };
  }
  const noRepository =
    record.exitCode === 10 ||
    /Is there a repository at the following location\?|unable to open config file|repository does not exist/.test(
      stderr,
    );
  if (noRepository) {
    const configLine =
      stderr
        .split('\n')
        .find((line) => /unable to open config file|repository does not exist/.test(line)) ??
      detail;
    return NETWORK_TROUBLE.test(configLine) && !/no such file or directory/.test(configLine)
      ? {
          message: `restic repository ${repo} cannot be reached: ${configLine.replace(/^Fatal:\s*/, '')}`,
          transient: true,
          environment: true,
          code: 'source.unreachable',
        }
      : {
          message: `restic repository ${repo} does not exist`,
          transient: false,
          environment: true,
          code: 'source.unreachable',
        };
  }
  if (record.exitCode === 11 || /unable to create lock|repository is already locked/.test(stderr)) {
    return {
      message: `restic repository ${repo} is locked: ${detail}`,
      transient: true,
      environment: true,
    };
  }
  if (/no matching ID found/.test(stderr)) {
    return {
      message: `restic ${verb}: snapshot not found in repository ${repo} (${detail})`,
      transient: false,
      environment: true,
    };
  }
  if (record.exitCode === 130)
    return { message: `restic ${verb} was interrupted`, transient: false, environment: true };
  if (record.exitCode === 3)
    return {
      message: `restic ${verb}: some files could not be read: ${detail}`,
      transient: false,
      environment: false,
    };
  return {
    message: `restic ${verb} failed (exit code ${record.exitCode})${detail ? `: ${detail}` : ''}`,
    transient: false,
    environment: false,
  };
}

/** restic retrying the save of its lock file on a folder it may never write. */
const LOCK_NOT_WRITABLE =
  /^Save\(<lock\/[0-9a-f]+>\) returned error, retrying after .*: (read-only file system|permission denied)\s*$/i;

/** Escapes restic's filter syntax so a path matches only itself (restic's `--include` takes patterns). */
export function escapeResticPattern(treePath: string): string {
  return treePath.replace(/[\\*?[\]]/g, (char) => `\\${char}`);
}

/** Component suffixes of the backed-up path: `/srv/app` → `/srv/app`, `/app` (relative backups keep only the tail). */
function rootCandidates(snapshotPath: string): string[] {
  const normalized = snapshotPath.replace(/\\/g, '/').replace(/^([A-Za-z]):/, '/$1');
  const parts = normalized.split('/').filter((part) => part !== '' && part !== '.');
  return parts.map((_, index) => `/${parts.slice(index).join('/')}`);
}

/** A directory entry as far as finding the root needs it. */
interface TreeEntry {
  name: string;
  dir: boolean;
}

/**
 * Where the backed-up folder sits in a snapshot's tree, so item paths can be made relative
 * to it: `backup /srv/app` stores `/srv/app/…`, `backup app` (relative) stores `/app/…`,
 * `backup .` stores the contents at the top. With one backed-up path, the root is the end of
 * a chain of single-child folders leading from the top to that path; otherwise (several paths,
 * or no such chain) it is the top, `''`, and items keep their tree path minus the leading '/'.
 */
export async function findSnapshotRoot(
  paths: readonly string[],
  children: (dir: string) => Promise<TreeEntry[]>,
): Promise<string> {
  if (paths.length !== 1) return '';
  const candidates = rootCandidates(paths[0] as string);
  let current = '';
  for (;;) {
    const entries = await children(current);
    if (entries.length !== 1) return '';
    const only = entries[0] as TreeEntry;
    const childPath = `${current}/${only.name}`;
    // A single backed-up file: its folder is the root, so the item keeps its name.
    if (candidates.includes(childPath)) return only.dir ? childPath : current;
    if (!only.dir || !candidates.some((candidate) => candidate.startsWith(`${childPath}/`)))
      return '';
    current = childPath;
  }
}

function relativeToRoot(treePath: string, root: string): string {
  if (root === '') return treePath.replace(/^\/+/, '');
  return treePath.startsWith(`${root}/`)
    ? treePath.slice(root.length + 1)
    : treePath.replace(/^\/+/, '');
}

/** Restic's command line must stay well under the kernel's limit (ARG_MAX, 128 KiB per argument). */
const INCLUDE_BATCH_BYTES = 256 * 1024;
const INCLUDE_BATCH_COUNT = 1_000;

function batchIncludes(patterns: readonly string[]): string[][] {
  const batches: string[][] = [];
  let batch: string[] = [];
  let bytes = 0;
  for (const pattern of patterns) {
    const size = Buffer.byteLength(pattern) + 12;
    if (
      batch.length > 0 &&
      (bytes + size > INCLUDE_BATCH_BYTES || batch.length >= INCLUDE_BATCH_COUNT)
    ) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(pattern);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/** Threads that walk and hash what restic restored: restic has ended, so every core is ours. */
function hashThreads(): number {
  return Math.max(2, Math.min(4, os.availableParallelism()));
}

/** Moves the snapshot root's contents from the staging folder up into scratch, then removes the staging folder. */
async function flattenInto(staging: string, root: string, scratchDir: string): Promise<void> {
  const from = path.join(staging, root);
  const stagingName = path.basename(staging);
  const exists = await lstat(from).then(
    (stat) => stat.isDirectory(),
    () => false,
  );
  if (exists) {
    for (const bytes of await readdir(from, { encoding: 'buffer' })) {
      const name = fileNameOf(bytes);
      if (name === stagingName)
        throw new SourceError(
          `restic restore: snapshot entry '${name}' collides with the staging folder`,
        );
      await rename(fsPath(from, name), fsPath(scratchDir, name));
    }
  }
  await rm(staging, { recursive: true, force: true });
}

/** A sample's warning for the files restic lists lossily: unverifiable by name, not damaged. */
function lossyNamesCheck(lossy: readonly string[]): CheckResult {
  const findings: Finding[] = lossy.map((item) => ({
    item,
    problem: 'unverifiable',
    actual: 'restic ls names it lossily (not valid UTF-8), so a sample cannot ask for it',
  }));
  return resultFromFindings('restic-names', findings, {
    expected: { lossyNames: 0 },
    actual: { lossyNames: lossy.length },
    passDetail: 'restic named every file faithfully',
    failDetail: (found) =>
      `${found.length} file(s) not sampled: restic lists their names lossily (not valid UTF-8; restic 0.17 lists them exactly), first ${found[0]?.item}`,
    onFinding: 'warn',
  });
}

/** `restic stats --json --mode restore-size`: the bytes and files a restore of the snapshot writes. */
const restoreSizeSchema = z.looseObject({ total_size: z.number().int().nonnegative() });

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function preview(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > 80 ? `${oneLine.slice(0, 77)}...` : oneLine || '(empty)';
}

function toRecord(result: CommandResult): ExecRecord {
  const { stdout: _stdout, ...record } = result;
  return record;
}

const ERROR_FOR = /^ignoring error for (.+?): (.*)$/;
/** A pack problem `restic check` reports while comparing the index with the pack files. */
const PACK_PROBLEM = /^pack ([0-9a-f]{8,64}): (.+)$/;
/** restic's retry backend saying a read failed and will be tried again (`Load(<data/1a2b…>, 0, 0) returned error, retrying after 552ms: …`). */
const RETRYING_LOAD = /^Load\(<[a-z]+\/[0-9a-f]+>.*\bretrying\b/;

/** The first of a finding's `; `-joined restic messages, naming the pack or blob restic could not read. */
function firstMessage(actual: unknown): string {
  return String(actual).split('; ')[0] ?? String(actual);
}
/**
 * What restic says when the repository opened but a snapshot's trees or data cannot be read
 * back: a blob or tree the index names is gone, or fails its authentication or hash.
 */
const UNREADABLE_DATA =
  /ciphertext verification failed|decrypting blob|not found in repository|wrong data returned|invalid data returned|(?:pack|blob|tree) [0-9a-f]{8,64}[^\n]*(?:does not exist|not found)/i;

const METADATA_ERROR =
  /^(Lchown|Chown|Chmod|UtimesNano|Utimes|Chtimes|Setxattr|Lsetxattr|Lgetxattr|Listxattr)\b/i;

/** A failed `restic stats` or `ls`: how restic failed, and its line saying data could not be read back, if it said so. */
interface FailedRead {
  failure: ResticFailure;
  unreadable: string | undefined;
}

/** A snapshot's file listing, with where its backed-up root sits in the tree. */
interface Listing {
  /** Files restic names faithfully, by their escaped names (`model/file-name.ts`). */
  items: SetItem[];
  root: string;
}

/**
 * restic before 0.17 prints a name that is not valid UTF-8 in `ls --json` with U+FFFD
 * in place of each bad byte (its restore writes the right bytes): such a name cannot be
 * asked for, so a sample leaves it out and says so.
 */
function isLossyName(name: string): boolean {
  return name.includes('\uFFFD');
}

class ResticSource implements RestoreSource {
  readonly kind = 'restic';
  readonly #config: ResticSourceConfig;
  readonly #log: Logger;
  readonly #repository: string;
  readonly #label: string;
  readonly #passwordFile: string | undefined;
  readonly #cacheDir: string | undefined;
  readonly #snapshots = new Map<string, ResticSnapshot>();
  readonly #roots = new Map<string, string>();
  /** Per snapshot, the files `restic ls` named lossily (escaped as printed): never sampled. */
  readonly #lossy = new Map<string, string[]>();
  /** Every command run since the last restore, handed over as that restore's evidence. */
  #commands: ExecRecord[] = [];
  #versionChecked: Promise<void> | undefined;

  constructor(config: ResticSourceConfig, context: SourceContext) {
    this.#config = config;
    this.#log = context.log;
    const local = localRepositoryPath(config.repository, context.configDir);
    this.#repository = local ?? config.repository;
    this.#passwordFile =
      config.passwordFile === undefined
        ? undefined
        : path.resolve(context.configDir, config.passwordFile);
    this.#cacheDir =
      config.cacheDir === undefined ? undefined : path.resolve(context.configDir, config.cacheDir);
    // restic echoes the repository location in errors: its credentials must be masked like any secret.
    const userinfo = /\/\/([^/@]*:[^/@]*)@/.exec(config.repository)?.[1];
    if (userinfo) {
      redactor.add(userinfo, '***');
      redactor.add(userinfo.slice(userinfo.indexOf(':') + 1), '***');
    }
    // A password written literally (not as ${env:}) is not yet known to the redactor.
    if (config.password !== undefined && redactor.redact(config.password) === config.password)
      redactor.add(config.password, '***');
    this.#label = redactRepository(this.#repository);
  }

  async listSets(options: { signal?: AbortSignal | undefined }): Promise<BackupSet[]> {
    options.signal?.throwIfAborted();
    const args = ['snapshots', '--json', ...this.#filterArgs(), ...this.#globalArgs()];
    const result = await this.#exec('snapshots', args, {
      keepStdout: true,
      signal: options.signal,
    });
    this.#throwIfListingDamaged(result);
    this.#throwUnlessOk('snapshots', result);
    const snapshots = this.#parseSnapshots(result.stdout);
    return snapshots.map((snapshot) => {
      this.#snapshots.set(snapshot.id, snapshot);
      return {
        id: snapshot.id,
        path: `restic:${this.#label}@${snapshot.short_id ?? snapshot.id.slice(0, 8)}`,
        size: null,
        mtime: new Date(snapshot.time),
        hash: snapshot.tree,
      };
    });
  }

  async listItems(
    set: BackupSet,
    options: { signal?: AbortSignal | undefined },
  ): Promise<SetItem[]> {
    options.signal?.throwIfAborted();
    return (await this.#list(set, options.signal)).items;
  }

  /** `restic stats --mode restore-size`: what a whole-snapshot restore writes, for the scratch pre-check. */
  async restoredSize(
    set: BackupSet,
    options: { signal?: AbortSignal | undefined },
  ): Promise<number | null> {
    const stats = (cache: boolean) =>
      this.#execWatched(
        'stats',
        set,
        ['stats', '--json', '--mode', 'restore-size', ...this.#globalArgs(cache), set.id],
        { keepStdout: true, signal: options.signal },
      );
    let result = await stats(true);
    let failed = this.#failedRead('stats', result);
    // Maybe only the local cache is bad (a damaged copy of the same repository filled it): ask the repository.
    if (failed?.unreadable !== undefined) {
      result = await stats(false);
      failed = this.#failedRead('stats', result);
    }
    if (failed) this.#throwFailedRead(failed, set);
    const parsed = restoreSizeSchema.safeParse(safeJson(result.stdout));
    if (!parsed.success)
      throw new SourceError(`restic stats: unexpected output: ${preview(result.stdout)}`);
    return parsed.data.total_size;
  }

  async restore(
    set: BackupSet,
    scratchDir: string,
    options: RestoreOptions,
  ): Promise<RestoreOutcome> {
    try {
      return await this.#restoreAndCheck(set, scratchDir, options);
    } catch (error) {
      // Failed partway: what restic ran up to the failure is the evidence of why.
      const commands = this.#takeCommands();
      if (error instanceof SourceError) throw error.withCommandsBefore(commands);
      throw error;
    }
  }

  async #restoreAndCheck(
    set: BackupSet,
    scratchDir: string,
    options: RestoreOptions,
  ): Promise<RestoreOutcome> {
    const { signal } = options;
    signal?.throwIfAborted();
    const checks: CheckResult[] = [];
    let files: RestoredFile[] = [];
    let links: RestoredLink[] = [];
    let refused: RefusedEntry[] = [];
    let damage: BackupDamage | undefined;
    if (options.items === null || options.items.size > 0) {
      const restored = await this.#restoreInto(set, scratchDir, options);
      files = restored.files;
      links = restored.links;
      refused = restored.refused;
      damage = restored.damage;
      checks.push(restored.check);
    }
    const lossy = options.items === null ? [] : (this.#lossy.get(set.id) ?? []);
    if (lossy.length > 0) checks.push(lossyNamesCheck(lossy));
    if (this.#config.check)
      checks.push(await this.#check(this.#config.check.readDataSubset, signal));
    const commands = this.#takeCommands();
    return { files, links, refused, commands, checks, ...(damage ? { damage } : {}) };
  }

  /**
   * Pack files the repository's index names but the repository no longer holds. Only the
   * first phase of `restic check` runs (index against the pack listing, no data read): it
   * is stopped when restic moves on to the trees. A failure to open the repository throws.
   */
  async #missingPacks(signal: AbortSignal | undefined): Promise<string[]> {
    const enough = new AbortController();
    const stop = signal ? AbortSignal.any([signal, enough.signal]) : enough.signal;
    const problems: string[] = [];
    let result: CommandResult | null = null;
    try {
      // Without a cache: restic removes its temporary check cache only when it ends by itself, and this one is stopped.
      result = await this.#exec('check', ['check', '--no-lock', ...this.#globalArgs(false)], {
        signal: stop,
        onStdoutLine: (line) => {
          if (line.trim().startsWith('check snapshots')) enough.abort();
        },
        onStderrLine: (line) => {
          const match = PACK_PROBLEM.exec(line.trim());
          if (match && !/not referenced in any index/.test(match[2] as string))
            problems.push(`pack ${match[1] as string}: ${match[2] as string}`);
        },
      });
    } catch (error) {
      // Stopped by us once the packs were compared: that is the phase's normal end.
      if (!enough.signal.aborted || signal?.aborted) throw error;
    }
    signal?.throwIfAborted();
    // Finished before we stopped it, and not cleanly: only a failure to open the repository counts here.
    if (problems.length === 0 && result !== null && !result.canceled && result.exitCode !== 0) {
      const failure = this.#classify('check', result);
      if (failure.environment) this.#throwUnlessOk('check', result);
    }
    return problems;
  }

  #missingPacksError(set: BackupSet, problems: readonly string[]): BackupDamagedError {
    return new BackupDamagedError(
      `restic repository ${this.#label} is missing data of its index, so snapshot ${set.id.slice(0, 8)} cannot be restored: ${problems[0] as string}${problems.length > 1 ? ` and ${problems.length - 1} more` : ''}`,
      { detail: problems.join('; '), entry: null, offset: null },
      { files: [], refused: [], commands: this.#takeCommands() },
    );
  }

  /**
   * One `restic restore` or `stats`, watched for restic retrying a load: restic 0.14 retries
   * a missing or cut pack for about 90 s, so at its first retry the pack check runs beside
   * it, and packs the index names but the repository lacks (or holds cut short) stop the
   * command at once as damage. A command that never retries pays for no check.
   */
  async #execWatched(
    verb: 'restore' | 'stats',
    set: BackupSet,
    args: string[],
    options: Pick<RunCommandOptions, 'signal' | 'keepStdout'> & {
      onStderrLine?: (line: string) => void;
    },
  ): Promise<CommandResult> {
    const { signal, onStderrLine } = options;
    const packsMissing = new AbortController();
    let packCheck: Promise<string[]> | undefined;
    const watch = (line: string): void => {
      if (packCheck === undefined && RETRYING_LOAD.test(line.trim())) {
        packCheck = this.#missingPacks(signal).then(
          (problems) => {
            if (problems.length > 0) packsMissing.abort();
            return problems;
          },
          (error: unknown) => {
            packsMissing.abort();
            throw error;
          },
        );
        // Awaited once the restore ends; never an unhandled rejection meanwhile.
        packCheck.catch(() => undefined);
      }
      onStderrLine?.(line);
    };
    const stop = signal ? AbortSignal.any([signal, packsMissing.signal]) : packsMissing.signal;
    let result: CommandResult | undefined;
    try {
      result = await this.#exec(verb, args, { ...options, signal: stop, onStderrLine: watch });
    } catch (error) {
      // Stopped by the pack check: what it found is the outcome.
      if (!packsMissing.signal.aborted || signal?.aborted) throw error;
    }
    const problems = packCheck === undefined ? [] : await packCheck;
    if (problems.length > 0) throw this.#missingPacksError(set, problems);
    if (result === undefined) throw new Error(`restic ${verb} stopped without a cause`);
    return result;
  }

  /** The commands run since the last restore, handed over as its evidence. */
  #takeCommands(): ExecRecord[] {
    const commands = this.#commands;
    this.#commands = [];
    return commands;
  }

  async #restoreInto(
    set: BackupSet,
    scratchDir: string,
    options: RestoreOptions,
  ): Promise<{
    files: RestoredFile[];
    links: RestoredLink[];
    refused: RefusedEntry[];
    check: CheckResult;
    damage?: BackupDamage;
  }> {
    const { signal, items } = options;
    let root = this.#roots.get(set.id);
    if (items !== null && root === undefined) root = (await this.#list(set, signal)).root;
    // Sorted so the restic commands (and their evidence) do not depend on the sample's order.
    const requested = items === null ? null : [...items].sort();
    const batches =
      requested === null
        ? [[]]
        : batchIncludes(
            requested.map((item) => {
              // restic takes the name's own text: listed names are valid UTF-8.
              const name = decodeFileName(item).toString('utf8');
              return escapeResticPattern(root ? `${root}/${name}` : `/${name}`);
            }),
          );
    const staging = path.join(scratchDir, `.restic-restore-${randomBytes(6).toString('hex')}`);
    const errors = new Map<string, string[]>();
    /** restic stopped part-way on bad data (a tree it could not load): what it restored before is kept. */
    let stopped: { message: string; detail: string } | undefined;
    for (const batch of batches) {
      const args = [
        'restore',
        set.id,
        '--target',
        staging,
        ...batch.flatMap((pattern) => ['--include', pattern]),
        // Everything restored is read from the repository, as on a new machine: restic's
        // local cache would serve trees a damaged repository no longer holds intact.
        '--no-cache',
      ];
      const onStderrLine = (line: string): void => {
        const match = ERROR_FOR.exec(line.trim());
        if (!match) return;
        const list = errors.get(match[1] as string) ?? [];
        list.push(match[2] as string);
        errors.set(match[1] as string, list);
      };
      let result: CommandResult;
      try {
        result = await this.#execWatched('restore', set, args, { signal, onStderrLine });
      } catch (error) {
        await rm(staging, { recursive: true, force: true });
        throw error;
      }
      // Exit 1 after per-file errors is damaged data, a finding; anything else means no restore happened.
      if (
        result.exitCode !== 0 &&
        !(result.exitCode === 1 && errors.size > 0 && !result.timedOut && !result.canceled)
      ) {
        const failure = this.#classify('restore', result);
        // A full scratch is not damage: the drill's scratch watch names it.
        if (failure.environment || NO_SPACE.test(result.stderrTail)) {
          await rm(staging, { recursive: true, force: true });
          this.#throwUnlessOk('restore', result);
        }
        // The repository was opened and its data could not be read: damage, not an error.
        stopped = {
          message: failure.message,
          detail: resticComplaint(result.stderrTail) || describeExit(result),
        };
        break;
      }
    }
    if (root === undefined)
      root = await findSnapshotRoot((await this.#snapshot(set, signal)).paths, (dir) =>
        readEntries(path.join(staging, dir)),
      );
    this.#roots.set(set.id, root);
    await flattenInto(staging, root, scratchDir);
    const { files, links } = await hashTree(scratchDir, { threads: hashThreads(), signal });
    const refused: RefusedEntry[] = [];

    const landed = new Set(files.map((file) => file.path));
    const findings: Finding[] = [];
    for (const [treePath, messages] of errors) {
      const item = fileNameOf(relativeToRoot(treePath, root));
      // Owner, mode, times or xattrs not set on a file whose bytes did land: the data came back.
      const metadataOnly =
        landed.has(item) && messages.every((message) => METADATA_ERROR.test(message));
      findings.push({
        item,
        problem: metadataOnly ? 'metadata-not-restored' : 'restore-error',
        actual: messages.join('; '),
      });
    }
    if (requested !== null) {
      // restic is silent about an include that matches nothing: the item is not in the snapshot.
      const reported = new Set(findings.map((finding) => finding.item));
      for (const item of requested) {
        if (!landed.has(item) && !reported.has(item))
          refused.push({ entry: item, reason: 'not found in the set' });
      }
    }
    const damaged = findings.find((finding) => finding.problem === 'restore-error');
    // A file restic could not read back is not restored, whatever it left on disk.
    const unreadable = new Set(
      findings.filter((finding) => finding.problem === 'restore-error').map((f) => f.item),
    );
    const restoredFiles =
      unreadable.size === 0 ? files : files.filter((file) => !unreadable.has(file.path));
    const snapshot = `snapshot ${set.id.slice(0, 8)}`;
    // restic gave up part-way (exit 1 with no per-file error): the check says so, never "without errors".
    if (stopped)
      findings.push({ item: snapshot, problem: 'restore-stopped', actual: stopped.detail });
    const check = resultFromFindings('restic-restore', findings, {
      expected: { errors: 0 },
      actual: { errors: errors.size + (stopped ? 1 : 0), files: restoredFiles.length },
      passDetail: `restic restored ${files.length} file(s) of ${snapshot} without errors`,
      failDetail: (found) =>
        stopped && found.length === 1
          ? `restic stopped restoring ${snapshot} after ${restoredFiles.length} file(s): ${stopped.detail}`
          : `restic could not restore ${found.length} item(s), first ${found[0]?.item}: ${String(found[0]?.actual ?? found[0]?.problem)}`,
      onFinding: findings.every((finding) => finding.problem === 'metadata-not-restored')
        ? 'warn'
        : 'fail',
    });
    if (stopped) {
      const partial = {
        files: restoredFiles,
        links,
        refused,
        checks: [check],
        commands: this.#takeCommands(),
      };
      throw new BackupDamagedError(
        `${stopped.message} on snapshot ${set.id.slice(0, 8)} of ${this.#label}`,
        { detail: stopped.detail, entry: damaged?.item ?? null, offset: null },
        partial,
      );
    }
    // Data restic could not read back (a pack missing or altered) is damage to the backup.
    const damage: BackupDamage | undefined = damaged
      ? { detail: firstMessage(damaged.actual), entry: damaged.item, offset: null }
      : undefined;
    return { files: restoredFiles, links, refused, check, ...(damage ? { damage } : {}) };
  }

  /** `restic check --read-data-subset`: integrity errors are a failed check; a repository it cannot use is an error. */
  async #check(subset: string, signal?: AbortSignal): Promise<CheckResult> {
    const problems: string[] = [];
    const onStderrLine = (line: string): void => {
      const text = line.trim();
      if (text && problems.length < 1_000) problems.push(text);
    };
    const result = await this.#exec(
      'check',
      // No cache: restic's temporary check cache is left behind whenever restic is stopped.
      ['check', `--read-data-subset=${subset}`, ...this.#globalArgs(false)],
      { signal, onStderrLine },
    );
    const expected = { exitCode: 0, readDataSubset: subset };
    const actual = {
      exitCode: result.exitCode,
      stdoutTail: result.stdoutTail,
      stderrTail: result.stderrTail,
    };
    if (result.exitCode === 0 && !result.timedOut && !result.canceled) {
      return {
        name: 'restic-check',
        verdict: 'passed',
        expected,
        actual,
        detail: `restic check --read-data-subset=${subset}: ${lastLine(result.stdoutTail) || 'no errors were found'}`,
      };
    }
    const failure = this.#classify('check', result);
    if (failure.environment)
      throw new SourceError(failure.message, failure.transient, { code: failure.code });
    const errorLines = problems.filter(
      (line) =>
        !/^(using temporary cache|create (exclusive )?lock|load indexes|check |read |\[)/.test(
          line,
        ),
    );
    const findings: Finding[] = (errorLines.length > 0 ? errorLines : [describeExit(result)]).map(
      (line) => ({
        item: /\b([0-9a-f]{64})\b/.exec(line)?.[1] ?? 'repository',
        problem: 'integrity',
        actual: line,
      }),
    );
    return {
      name: 'restic-check',
      verdict: 'failed',
      expected,
      actual,
      detail: `restic check --read-data-subset=${subset} failed: ${describeExit(result)}`,
      findings: findings.slice(0, 100),
      findingsTotal: findings.length,
    };
  }

  /** Streams `restic ls --json`: memory grows with the files kept, not with restic's output. */
  async #list(set: BackupSet, signal?: AbortSignal, cache = true): Promise<Listing> {
    let snapshot: ResticSnapshot | undefined;
    let candidates: string[] = [];
    const files: { path: string; size: number }[] = [];
    // Children of the folders on the way to the backed-up path (at most two each: one or several is all that matters).
    const chain = new Map<string, TreeEntry[]>();
    const onStdoutLine = (line: string): void => {
      if (line.trim() === '') return;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        throw new SourceError(`restic ls: unexpected output: ${preview(line)}`);
      }
      const header = lsLineSchema.safeParse(value);
      if (!header.success) throw new SourceError(`restic ls: unexpected output: ${preview(line)}`);
      const type = header.data.message_type ?? header.data.struct_type;
      if (type === 'snapshot') {
        const parsed = resticSnapshotSchema.safeParse(value);
        if (!parsed.success)
          throw new SourceError(
            `restic ls: unexpected output: snapshot ${describeIssue(parsed.error)}`,
          );
        snapshot = parsed.data;
        candidates =
          parsed.data.paths.length === 1 ? rootCandidates(parsed.data.paths[0] as string) : [];
        return;
      }
      // New message types may appear in newer releases (doc/075_scripting.rst): skip them.
      if (type !== 'node') return;
      const parsed = lsNodeSchema.safeParse(value);
      if (!parsed.success)
        throw new SourceError(`restic ls: unexpected output: node ${describeIssue(parsed.error)}`);
      const node = parsed.data;
      if (node.type === 'file') files.push({ path: node.path, size: node.size });
      const parent = path.posix.dirname(node.path);
      const parentKey = parent === '/' ? '' : parent;
      if (
        parentKey === '' ||
        candidates.some((candidate) => candidate.startsWith(`${parentKey}/`))
      ) {
        const siblings = chain.get(parentKey) ?? [];
        if (siblings.length < 2)
          siblings.push({ name: path.posix.basename(node.path), dir: node.type === 'dir' });
        chain.set(parentKey, siblings);
      }
    };
    const result = await this.#exec('ls', ['ls', '--json', ...this.#globalArgs(cache), set.id], {
      signal,
      onStdoutLine,
    });
    const failed = this.#failedRead('ls', result);
    // Maybe only the local cache is bad (a damaged copy of the same repository filled it): ask the repository.
    if (cache && failed?.unreadable !== undefined) return this.#list(set, signal, false);
    if (failed) this.#throwFailedRead(failed, set);
    // restic ls exits 0 for an id it does not know, saying only "Ignoring …".
    if (!snapshot)
      throw new SourceError(`restic snapshot ${set.id} not found in repository ${this.#label}`);
    this.#snapshots.set(snapshot.id, snapshot);
    const root = await findSnapshotRoot(snapshot.paths, async (dir) => chain.get(dir) ?? []);
    this.#roots.set(set.id, root);
    // In place: a listing of millions of files is held once, not twice.
    const lossy: string[] = [];
    let kept = 0;
    for (const file of files) {
      const name = fileNameOf(relativeToRoot(file.path, root));
      if (isLossyName(file.path)) lossy.push(name);
      else {
        file.path = name;
        files[kept++] = file;
      }
    }
    files.length = kept;
    this.#lossy.set(set.id, lossy);
    const items: SetItem[] = files;
    this.#log.debug({ snapshot: set.id, items: items.length, root }, 'restic: listed snapshot');
    return { items, root };
  }

  /** The snapshot's metadata, from listSets when it ran, else from restic. */
  async #snapshot(set: BackupSet, signal?: AbortSignal): Promise<ResticSnapshot> {
    const known = this.#snapshots.get(set.id);
    if (known) return known;
    const result = await this.#exec(
      'snapshots',
      ['snapshots', '--json', ...this.#globalArgs(), set.id],
      { keepStdout: true, signal },
    );
    this.#throwUnlessOk('snapshots', result);
    const found = this.#parseSnapshots(result.stdout).find((snapshot) => snapshot.id === set.id);
    if (!found)
      throw new SourceError(`restic snapshot ${set.id} not found in repository ${this.#label}`);
    this.#snapshots.set(found.id, found);
    return found;
  }

  #parseSnapshots(stdout: string): ResticSnapshot[] {
    let value: unknown;
    try {
      value = JSON.parse(stdout);
    } catch {
      throw new SourceError(`restic snapshots: unexpected output: ${preview(stdout)}`);
    }
    // restic ≤ 0.9 printed null for no snapshots.
    if (value === null) return [];
    const parsed = z.array(resticSnapshotSchema).safeParse(value);
    if (!parsed.success)
      throw new SourceError(`restic snapshots: unexpected output: ${describeIssue(parsed.error)}`);
    return parsed.data;
  }

  #filterArgs(): string[] {
    const args: string[] = [];
    if (this.#config.host !== undefined) args.push('--host', this.#config.host);
    // One --tag a,b means both tags (restic ORs repeated --tag flags).
    if (this.#config.tags && this.#config.tags.length > 0)
      args.push('--tag', this.#config.tags.join(','));
    for (const snapshotPath of this.#config.paths ?? []) args.push('--path', snapshotPath);
    return args;
  }

  /** The cache flags: the configured cache, or none at all (`--no-cache`) to read the repository itself. */
  #globalArgs(cache = true): string[] {
    if (!cache) return ['--no-cache'];
    return this.#cacheDir === undefined ? [] : ['--cache-dir', this.#cacheDir];
  }

  /**
   * `restic version` once per source: the evidence names the restic that restored, and a
   * restic older than 0.14 (whose flags and output this source was not built for) is refused.
   */
  #checkVersion(signal?: AbortSignal): Promise<void> {
    this.#versionChecked ??= (async () => {
      const result = await this.#run('version', ['version'], { signal });
      this.#throwUnlessOk('version', result);
      const match = /restic (\d+)\.(\d+)\.(\d+)/.exec(result.stdoutTail);
      if (match && Number(match[1]) === 0 && Number(match[2]) < MIN_MINOR) {
        throw new SourceError(
          `restic ${match[1]}.${match[2]}.${match[3]} at ${this.#config.binary} is too old; restore-drill needs restic 0.${MIN_MINOR} or newer`,
        );
      }
    })().catch((error: unknown) => {
      this.#versionChecked = undefined;
      throw error;
    });
    return this.#versionChecked;
  }

  async #exec(
    verb: string,
    args: string[],
    options: Pick<RunCommandOptions, 'signal' | 'keepStdout' | 'onStdoutLine' | 'onStderrLine'>,
  ): Promise<CommandResult> {
    if (this.#versionChecked !== undefined) {
      await this.#versionChecked;
      return this.#run(verb, args, options);
    }
    // The first command starts beside `restic version` rather than after it (a process start
    // less to wait for); its record follows the version's, and a refused version wins.
    const version = this.#checkVersion(options.signal);
    const [checked, ran] = await Promise.allSettled([
      version,
      this.#run(verb, args, { ...options, recordAfter: version }),
    ]);
    if (checked.status === 'rejected') throw checked.reason;
    if (ran.status === 'rejected') throw ran.reason;
    return ran.value;
  }

  async #run(
    verb: string,
    args: string[],
    options: Pick<RunCommandOptions, 'signal' | 'keepStdout' | 'onStdoutLine' | 'onStderrLine'> & {
      /** Settles before this command's record is kept, so the evidence keeps the start order. */
      recordAfter?: Promise<unknown>;
    },
  ): Promise<CommandResult> {
    const { recordAfter, onStderrLine, ...commandOptions } = options;
    // restic retries a lock it cannot write for about 45 s; a read-only or forbidden
    // locks/ folder never heals, so the first such retry stops it.
    const lockRefused = new AbortController();
    let lockProblem: string | null = null;
    const watchLock = (line: string): void => {
      const refused = lockProblem === null ? LOCK_NOT_WRITABLE.exec(line) : null;
      if (refused) {
        lockProblem = (refused[1] as string).toLowerCase();
        lockRefused.abort();
      }
      onStderrLine?.(line);
    };
    const env: Record<string, string | undefined> = {
      ...this.#config.env,
      // Inherited values would compete with the configured ones.
      RESTIC_REPOSITORY_FILE: undefined,
      RESTIC_PASSWORD_COMMAND: undefined,
      RESTIC_REPOSITORY: this.#repository,
      RESTIC_PASSWORD: this.#config.password,
      RESTIC_PASSWORD_FILE: this.#passwordFile,
    };
    const result = await runCommand(this.#config.binary, args, {
      ...commandOptions,
      signal: options.signal
        ? AbortSignal.any([options.signal, lockRefused.signal])
        : lockRefused.signal,
      onStderrLine: watchLock,
      env,
      timeoutMs: this.#config.timeout,
      // restic removes its repository lock on SIGINT; restic 0.14 dies on SIGTERM and leaves the
      // lock behind, which blocks the owner's forget and prune until someone runs `restic unlock`.
      stopSignal: 'SIGINT',
      // A closed stdin: restic must never sit waiting for a password prompt.
      input: '',
    });
    await recordAfter?.catch(() => undefined);
    this.#commands.push(toRecord(result));
    this.#log.debug(
      { command: result.command, durationMs: result.durationMs },
      `restic ${verb}: ${describeExit(result)}`,
    );
    // Like every long operation here, an abort rejects with the signal's reason.
    if (result.canceled && options.signal?.aborted) throw options.signal.reason;
    if (lockProblem !== null) {
      const denied = lockProblem === 'permission denied';
      throw new SourceError(
        `restic repository ${this.#label} cannot be read: restic must write a lock in its locks/ folder and got '${lockProblem}'${denied ? ` as ${drillUser()}` : ''}; give the drill's user write access to locks/`,
        false,
        { code: denied ? 'source.auth' : 'source.failed' },
      );
    }
    return result;
  }

  #classify(verb: string, result: ExecRecord): ResticFailure {
    return classifyResticFailure(verb, result, {
      repository: this.#label,
      binary: this.#config.binary,
      passwordFile: this.#passwordFile,
    });
  }

  /**
   * How a command that walks a snapshot's trees (`restic stats`, `ls`) failed, classified
   * once; null when it succeeded. `unreadable` is restic's line saying it opened the
   * repository and could not read data back: the backup was reached and does not restore.
   */
  #failedRead(verb: string, result: CommandResult): FailedRead | null {
    if (result.exitCode === 0 && !result.timedOut && !result.canceled) return null;
    const failure = this.#classify(verb, result);
    if (failure.environment) return { failure, unreadable: undefined };
    const unreadable = result.stderrTail
      .split('\n')
      .map((line) => line.trim().replace(/^Fatal:\s*/, ''))
      .find((line) => UNREADABLE_DATA.test(line));
    return { failure, unreadable };
  }

  /** Unreadable data is damage (verdict `failed`); any other failure is the source's error. */
  #throwFailedRead({ failure, unreadable }: FailedRead, set: BackupSet): never {
    if (unreadable !== undefined)
      throw new BackupDamagedError(
        `restic repository ${this.#label} cannot read snapshot ${set.id.slice(0, 8)} back: ${unreadable}`,
        { detail: unreadable, entry: null, offset: null },
        { files: [], refused: [], commands: this.#takeCommands() },
      );
    throw new SourceError(failure.message, failure.transient, { code: failure.code });
  }

  /**
   * `restic snapshots` leaves out a snapshot file it cannot decrypt (exit 0, a line on stderr),
   * and stops when the config does not decrypt with the key the password opened: both are
   * damage to the repository, never an empty or smaller choice (the newest snapshot damaged
   * would hand `latest` an older, intact one).
   */
  #throwIfListingDamaged(result: CommandResult): void {
    const damaged = result.stderrTail
      .split('\n')
      .map((line) => line.trim().replace(/^Fatal:\s*/, ''))
      .find(
        (line) =>
          /^(could not load snapshot [0-9a-f]+|config or key [0-9a-f]+ is damaged): /.test(line) &&
          UNREADABLE_DATA.test(line),
      );
    if (damaged === undefined) return;
    throw new BackupDamagedError(
      `restic repository ${this.#label} is damaged: ${damaged}`,
      { detail: damaged, entry: null, offset: null },
      { files: [], refused: [], commands: this.#takeCommands() },
    );
  }

  #throwUnlessOk(verb: string, result: CommandResult): void {
    if (result.exitCode === 0 && !result.timedOut && !result.canceled) return;
    const failure = this.#classify(verb, result);
    throw new SourceError(failure.message, failure.transient, { code: failure.code });
  }
}

async function readEntries(dir: string): Promise<TreeEntry[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).map((entry) => ({
      name: entry.name,
      dir: entry.isDirectory(),
    }));
  } catch {
    return [];
  }
}

function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const where = issue.path.length > 0 ? issue.path.join('.') : 'value';
  return `${where}: ${issue.message}`;
}

export const resticSourceKind = defineSourceKind({
  ...resticSourceConfigKind,
  create(config, context) {
    return new ResticSource(config, context);
  },
});

import { open, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Logger } from '../log/logger.js';
import type { Database } from './database.js';
import { EvidenceError, reasonOf } from './errors.js';
import { runItemSchema, runRecordSchema, type RunItem, type RunRecord } from './run-record.js';
import { recordRunResult } from './runs.js';
import { retryWhileUnavailable, type StoreRetryOptions } from './store-retry.js';

/** The spool folder when `spool.path` is not set, relative to the config file. */
export const DEFAULT_SPOOL_PATH = '.restore-drill/spool';

/** How long a finished run keeps retrying the store before its result goes to the spool. */
export const RESULT_RETRY_MS = 5_000;

const SPOOL_FORMAT = 'restore-drill-spool/1';

/** One spooled run: its complete result, as `recordRunResult` takes it. */
export const spoolEntrySchema = z.object({
  format: z.literal(SPOOL_FORMAT),
  /** When the result was written here (ISO 8601). */
  spooledAt: z.string(),
  /** Why the store did not take it. */
  reason: z.string(),
  record: runRecordSchema,
  items: z.array(runItemSchema),
});
export type SpoolEntry = z.infer<typeof spoolEntrySchema>;

/** A result waiting in the spool. */
export interface SpooledRun {
  runId: string;
  drill: string;
  verdict: RunRecord['verdict'];
  finishedAt: string;
  spooledAt: string;
  file: string;
}

/** The spool folder a config names: `spool.path` resolved against the config's folder. */
export function spoolDirFor(config: { spool?: { path: string } }, configDir: string): string {
  return path.resolve(configDir, config.spool?.path ?? DEFAULT_SPOOL_PATH);
}

/** The spool could not be written either: the result exists only in this process. */
export class SpoolWriteError extends Error {
  override readonly name = 'SpoolWriteError';
}

/**
 * Writes a run's result durably: a temporary file fsynced, renamed to
 * `<runId>.json`, and the folder fsynced, so a crash leaves either nothing or
 * the whole entry. Returns the file's path.
 */
export async function writeSpoolEntry(
  dir: string,
  entry: Omit<SpoolEntry, 'format'>,
): Promise<string> {
  const file = path.join(dir, `${entry.record.runId}.json`);
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    await mkdir(dir, { recursive: true });
    const handle = await open(temporary, 'w', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify({ format: SPOOL_FORMAT, ...entry })}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
    const folder = await open(dir, 'r');
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => {});
    throw new SpoolWriteError(`cannot write the spool file ${file}: ${reasonOf(error)}`, {
      cause: error,
    });
  }
  return file;
}

/** A spool file that does not parse; left in place, and counted as waiting. */
export interface UnreadableSpoolFile {
  file: string;
  problem: string;
}

/** Every result waiting in the spool, oldest run first (by finish time), and files that do not parse. */
export async function listSpool(
  dir: string,
): Promise<{ runs: SpooledRun[]; unreadable: UnreadableSpoolFile[] }> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { runs: [], unreadable: [] };
    throw error;
  }
  const runs: SpooledRun[] = [];
  const unreadable: UnreadableSpoolFile[] = [];
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    const file = path.join(dir, name);
    const read = await readSpoolEntry(file);
    if ('problem' in read) {
      unreadable.push({ file, problem: read.problem });
      continue;
    }
    const { record, spooledAt } = read.entry;
    runs.push({
      runId: record.runId,
      drill: record.drill,
      verdict: record.verdict,
      finishedAt: record.finishedAt,
      spooledAt,
      file,
    });
  }
  runs.sort((a, b) => a.finishedAt.localeCompare(b.finishedAt) || a.runId.localeCompare(b.runId));
  return { runs, unreadable };
}

/** Reads and checks one spool file; a problem instead of an entry when it does not parse or is gone. */
export async function readSpoolEntry(
  file: string,
): Promise<{ entry: SpoolEntry } | { problem: string }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    return { problem: reasonOf(error) };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { problem: `not JSON: ${reasonOf(error)}` };
  }
  const parsed = spoolEntrySchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      problem: `not a spool entry: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
    };
  }
  if (path.basename(file) !== `${parsed.data.record.runId}.json`)
    return { problem: `holds run ${parsed.data.record.runId}, expected by its file name` };
  return { entry: parsed.data };
}

/** What a replay did. */
export interface ReplayOutcome {
  /** Results this call appended to the store. */
  replayed: SpooledRun[];
  /** Results another process had already appended (their files are removed too). */
  alreadyStored: SpooledRun[];
  /** Results still waiting: the store refused or could not take them, or their file does not parse. */
  waiting: number;
}

/**
 * Appends the spool's results to the store, oldest first, each hash-chained as
 * any result, and removes each file once its result is in the store. Two
 * processes replaying one spool never insert a result twice: the store takes
 * one result per run id and refuses the second, which then only removes the
 * file. Stops at the first result the store cannot take (the rest keep their
 * order for the next attempt).
 */
export async function replaySpool(
  db: Kysely<Database>,
  dir: string,
  log: Logger,
): Promise<ReplayOutcome> {
  const { runs, unreadable } = await listSpool(dir);
  for (const bad of unreadable)
    log.error({ file: bad.file, problem: bad.problem }, 'spool file cannot be replayed');
  const outcome: ReplayOutcome = { replayed: [], alreadyStored: [], waiting: 0 };
  for (const [index, run] of runs.entries()) {
    const read = await readSpoolEntry(run.file);
    if ('problem' in read) {
      // Another process replayed and removed it meanwhile.
      if (read.problem.includes('ENOENT')) outcome.alreadyStored.push(run);
      else outcome.waiting++;
      continue;
    }
    try {
      await recordRunResult(db, read.entry.record, read.entry.items);
      outcome.replayed.push(run);
    } catch (error) {
      if (error instanceof EvidenceError && error.code === 'duplicate-result') {
        outcome.alreadyStored.push(run);
      } else {
        log.warn(
          { runId: run.runId, drill: run.drill, err: reasonOf(error) },
          'spooled result not replayed; it stays in the spool',
        );
        outcome.waiting += runs.length - index;
        break;
      }
    }
    await rm(run.file, { force: true });
  }
  outcome.waiting += unreadable.length;
  if (outcome.replayed.length > 0)
    log.info(
      { runs: outcome.replayed.map((run) => run.runId), spool: dir },
      'spooled results appended to the evidence store',
    );
  return outcome;
}

/** Where a finished run's result went. */
export type RecordedIn =
  | { in: 'store' }
  | { in: 'spool'; file: string; reason: string }
  | { in: 'nowhere'; reason: string; items: RunItem[] };

export interface RecordResultOptions {
  db: Kysely<Database>;
  record: RunRecord;
  items: RunItem[];
  spoolDir: string;
  /** The run's logger, already naming its drill and run id. */
  log: Logger;
  /** The retry before spooling; RESULT_RETRY_MS by default. */
  retry?: Partial<StoreRetryOptions>;
}

/**
 * Appends a run's result to the store, riding out a short outage by retrying
 * with backoff; when the store still cannot take it (down, slow, read-only),
 * writes it to the spool instead. Never throws for the store or the spool
 * being unavailable: `in: 'nowhere'` says both failed, and the caller must
 * hand the result to the user. The store's own refusals (an invalid record)
 * are thrown.
 */
export async function recordResultOrSpool(options: RecordResultOptions): Promise<RecordedIn> {
  const { db, record, items, log } = options;
  let attempts = 0;
  try {
    await retryWhileUnavailable(
      async () => {
        attempts++;
        try {
          await recordRunResult(db, record, items);
        } catch (error) {
          // An earlier attempt committed but its answer was lost with the connection.
          if (attempts > 1 && error instanceof EvidenceError && error.code === 'duplicate-result')
            return;
          throw error;
        }
      },
      {
        budgetMs: RESULT_RETRY_MS,
        onRetry: (error, attempt, delayMs) =>
          log.warn(
            { attempt, delayMs, err: reasonOf(error) },
            'evidence store did not take the result; retrying',
          ),
        ...options.retry,
      },
    );
    return { in: 'store' };
  } catch (error) {
    if (error instanceof EvidenceError && error.code !== 'open-failed') throw error;
    const reason = `evidence store unavailable: ${reasonOf(error)}`;
    try {
      const file = await writeSpoolEntry(options.spoolDir, {
        spooledAt: new Date().toISOString(),
        reason,
        record,
        items,
      });
      log.warn(
        { file, reason },
        'result written to the spool; it is appended to the store when the store is back',
      );
      return { in: 'spool', file, reason };
    } catch (spoolError) {
      const both = `${reason}; ${reasonOf(spoolError)}`;
      log.error(
        { reason: both },
        'RESULT NOT RECORDED: neither the evidence store nor the spool could take it',
      );
      return { in: 'nowhere', reason: both, items };
    }
  }
}

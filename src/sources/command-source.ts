import { stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { CRASH_SIGNALS, describeExit, lastLine, runCommand } from '../exec/run-command.js';
import { describeFsError } from '../scratch/hashing-writer.js';
import { scanScratch } from './command/scan-scratch.js';
import { findSets } from './glob-sets.js';
import {
  BackupDamagedError,
  type RestoreOptions,
  type RestoreOutcome,
  type RestoreSource,
} from './restore-source.js';
import { SourceError, type BackupSet, type SetItem } from '../model/restore.js';
import { defineSourceKind, type SourceContext } from './source-kind.js';

import { commandSourceConfigKind, type CommandSourceConfig } from './command-source-config.js';

/** One entry of a list command's JSON output. */
const listedSetSchema = z.union([
  z.string().min(1),
  z.looseObject({
    id: z.string().min(1),
    time: z.iso.datetime({ offset: true }).optional(),
    size: z.number().int().nonnegative().optional(),
  }),
]);

/** How long a list command may take when no timeout is configured. */
const LIST_TIMEOUT_MS = 10 * 60_000;

/**
 * Restores with an external command. Sets come from a glob or a list command; the
 * restore command runs with cwd in scratch and `{scratch}`/`{set}` substituted per
 * argument. Its exit code and output tail are evidence. A non-zero exit means the backup
 * was reached and does not restore (`BackupDamagedError`, with what it left in scratch),
 * unless the code is one of `unreachableExitCodes` (a `SourceError`: the drill could not
 * judge); a timeout is a refused entry (the restore check fails), a crash (SIGSEGV, SIGABRT…)
 * is damage, a kill from outside (SIGKILL, SIGTERM…) is a `SourceError`, and a command
 * that cannot be started at all is a `SourceError`. What it left in scratch is
 * then walked and hashed for the usual checks; symlinks are kept as links and never followed.
 */
export class CommandSource implements RestoreSource {
  readonly kind = 'command';
  readonly #config: CommandSourceConfig;
  readonly #context: SourceContext;

  constructor(config: CommandSourceConfig, context: SourceContext) {
    this.#config = config;
    this.#context = context;
  }

  async listSets(options: { signal?: AbortSignal | undefined }): Promise<BackupSet[]> {
    const { configDir } = this.#context;
    if (this.#config.sets !== undefined) {
      const pattern = this.#config.sets.path;
      const sets = [
        ...(await findSets(pattern, configDir, { kind: 'file' }, options)),
        ...(await findSets(pattern, configDir, { kind: 'directory' }, options)),
      ];
      return sets.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    }
    const [file, ...args] = this.#config.list as string[];
    const result = await runCommand(this.#binary(file as string), args, {
      env: this.#config.env,
      timeoutMs: this.#config.timeout ?? LIST_TIMEOUT_MS,
      signal: options.signal,
      keepStdout: true,
    });
    options.signal?.throwIfAborted();
    if (result.exitCode !== 0 || result.timedOut || result.signal) {
      const { stdout: _listed, ...listRecord } = result;
      throw new SourceError(
        `list command ${result.command} failed: ${describeExit(result)}`,
        false,
        {
          commands: [listRecord],
        },
      );
    }
    return parseListOutput(result.stdout, result.command);
  }

  async listItems(set: BackupSet): Promise<SetItem[]> {
    throw new SourceError(
      `the command source restores whole sets; ${set.path} cannot be sampled (remove sample from the drill)`,
    );
  }

  async restore(
    set: BackupSet,
    scratchDir: string,
    options: RestoreOptions,
  ): Promise<RestoreOutcome> {
    if (options.items !== null)
      throw new SourceError(
        `the command source restores whole sets; ${set.path} cannot be sampled (remove sample from the drill)`,
      );
    options.signal?.throwIfAborted();
    if (this.#config.sets !== undefined) await requireSet(set.path);
    const argv = this.#config.restore.map((arg) =>
      substitute(arg, { scratch: scratchDir, set: set.id }),
    );
    const [file, ...args] = argv as [string, ...string[]];
    // Output is followed line by line, not buffered: a verbose tool may print a line per file. Its tails are kept.
    const ignore = (): void => undefined;
    const result = await runCommand(this.#binary(file), args, {
      cwd: scratchDir,
      env: this.#config.env,
      timeoutMs: this.#config.timeout,
      signal: options.signal,
      onStdoutLine: ignore,
      onStderrLine: ignore,
    });
    options.signal?.throwIfAborted();
    const { stdout: _stdout, ...record } = result;
    if (result.exitCode === null && !result.signal && !result.timedOut) {
      throw new SourceError(
        `cannot run restore command ${file}: ${lastLine(result.stderrTail)}`,
        false,
        { code: 'tool.missing', commands: [record] },
      );
    }
    const tool = `restore command ${path.basename(file)}`;
    if (result.exitCode !== null && this.#config.unreachableExitCodes.includes(result.exitCode))
      throw new SourceError(`${tool} could not reach ${set.path}: ${describeExit(result)}`, false, {
        code: 'source.unreachable',
        commands: [record],
      });
    const { files, links, refused, skipped } = await scanScratch(scratchDir, {
      signal: options.signal,
    });
    options.log.info(
      { exitCode: result.exitCode, files: files.length },
      'restore command finished',
    );
    const outcome: RestoreOutcome = { files, links, refused, skipped, commands: [record] };
    // It ran and said the backup does not restore: damage, with what it left in scratch.
    if (result.exitCode !== 0 && result.exitCode !== null && !result.timedOut && !result.signal)
      throw new BackupDamagedError(
        `${tool} could not restore ${set.path}: ${describeExit(result)}`,
        { detail: `${tool} ${describeExit(result)}`, entry: null, offset: null },
        outcome,
      );
    if (result.signal !== null && !result.timedOut) {
      // A crash while reading the backup says it does not restore; a kill from outside
      // (the kernel out of memory, an operator) says nothing about it.
      if (CRASH_SIGNALS.has(result.signal))
        throw new BackupDamagedError(
          `${tool} crashed restoring ${set.path}: ${describeExit(result)}`,
          { detail: `${tool} crashed: ${describeExit(result)}`, entry: null, offset: null },
          outcome,
        );
      throw new SourceError(
        `${tool} was ${describeExit(result)}, not by restore-drill (out of memory, or an operator?): it did not finish, so ${set.path} was not judged`,
        false,
        { commands: [record] },
      );
    }
    // Past its timeout: it did not finish in the time allowed, so the restore check fails naming it.
    if (result.timedOut) refused.unshift({ entry: tool, reason: describeExit(result) });
    return outcome;
  }

  /** A bare name is looked up on PATH; a path resolves from the config folder. */
  #binary(file: string): string {
    return file.includes('/') ? path.resolve(this.#context.configDir, file) : file;
  }
}

/**
 * A globbed set that vanished since it was listed is an error of the drill, not damage:
 * the restore command would fail on it and read as a backup that does not restore.
 */
async function requireSet(setPath: string): Promise<void> {
  try {
    await stat(setPath);
  } catch (error) {
    throw new SourceError(`cannot read backup set ${setPath}: ${describeFsError(error)}`, false, {
      cause: error,
      code: 'source.unreachable',
    });
  }
}

/** Replaces `{scratch}` and `{set}` inside one argument; the result stays one argument whatever it holds. */
export function substitute(arg: string, values: { scratch: string; set: string }): string {
  return arg.replace(/\{(scratch|set)\}/g, (_, name: 'scratch' | 'set') => values[name]);
}

/** Sets from a list command's output: a JSON array, or one id per line. */
export function parseListOutput(stdout: string, command: string): BackupSet[] {
  const text = stdout.trim();
  if (text.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new SourceError(
        `list command ${command} printed invalid JSON: ${(error as Error).message}`,
      );
    }
    const entries = z.array(listedSetSchema).safeParse(parsed);
    if (!entries.success) {
      const issue = entries.error.issues[0];
      throw new SourceError(
        `list command ${command} printed an unexpected entry at [${issue?.path.join('.')}]: expected an id or { id, time?, size? }`,
      );
    }
    return entries.data.map((entry) =>
      typeof entry === 'string'
        ? { id: entry, path: entry, size: null, mtime: null, hash: null }
        : {
            id: entry.id,
            path: entry.id,
            size: entry.size ?? null,
            mtime: entry.time ? new Date(entry.time) : null,
            hash: null,
          },
    );
  }
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((id) => ({ id, path: id, size: null, mtime: null, hash: null }));
}

export const commandSourceKind = defineSourceKind({
  ...commandSourceConfigKind,
  create(config, context) {
    return new CommandSource(config, context);
  },
});

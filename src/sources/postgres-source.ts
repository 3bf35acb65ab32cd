import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ExecRecord } from '../model/exec-record.js';
import { compressedDamage, CompressedDataError, isCompressedDataError } from './decompress.js';
import { findArchiveDataDamage } from './postgres/archive-data.js';
import { detectDumpFormat, inspectPlainDump, type DumpFormat } from './postgres/dump-format.js';
import { LocalDumpStore, type DumpStore } from './postgres/dump-store.js';
import { PgliteDatabase } from './postgres/pglite-database.js';
import { loadPlainDump, PlainLoadError } from './postgres/pglite-loader.js';
import { PlainDumpError } from './postgres/plain-sql.js';
import { majorOfVersionNum, statementFailure } from './postgres/statement-damage.js';
import { listArchive, pgRestore, psqlRestore, type ArchiveToc } from './postgres/pg-tools.js';
import {
  createScratchDatabase,
  databaseUrl,
  dropScratchDatabase,
  parseServerUrl,
  scratchDatabaseName,
  ServerDatabase,
  toolEnv,
  type ServerAddress,
} from './postgres/scratch-server.js';
import { countTables } from './postgres/table-counts.js';
import { pgliteExtensionsFor } from './postgres/pglite-extensions.js';
import {
  BackupDamagedError,
  type RestoreOptions,
  type RestoreOutcome,
  type RestoreSource,
} from './restore-source.js';
import { SourceError, type BackupSet, type RefusedEntry, type SetItem } from '../model/restore.js';
import { defineSourceKind, type SourceContext } from './source-kind.js';
import { openPglite } from '../evidence/pglite-seed.js';

import { postgresSourceConfigKind, type PostgresSourceConfig } from './postgres-source-config.js';

/** Row counts are taken with this statement timeout when the source has none configured (0: none). */
const COUNT_TIMEOUT_MS = 0;

/** Name of the pg_restore -L list written into scratch for a sample of tables. */
const SAMPLE_LIST = '.restore-drill-toc.list';

/**
 * Restores pg_dump outputs. With `scratchServer`, each restore creates a fresh database
 * (`restore_drill_<drill>_<run>`) there, restores with `pg_restore --no-owner --no-acl
 * -j N` (or `psql -v ON_ERROR_STOP=1 -f` for plain SQL), counts every table's rows
 * exactly, and drops the database in `dispose` (or at once when the restore fails).
 * Without it, a plain dump is loaded into an embedded PGlite in scratch. A sample is a
 * set of tables: the schema is restored whole, only the chosen tables' data.
 */
export class PostgresSource implements RestoreSource {
  readonly kind = 'postgres';
  readonly #config: PostgresSourceConfig;
  readonly #context: SourceContext;
  readonly #store: DumpStore;

  constructor(config: PostgresSourceConfig, context: SourceContext) {
    this.#config = config;
    this.#context = context;
    this.#store = new LocalDumpStore(config.path, context.configDir, config.format);
  }

  /** Dumps matching the glob; with `format: auto`, files and folders holding a toc.dat. */
  listSets(options: { signal?: AbortSignal | undefined }): Promise<BackupSet[]> {
    return this.#store.listSets(options);
  }

  /** The tables whose data the dump holds (its TABLE DATA entries); a plain dump cannot be sampled. */
  async listItems(
    set: BackupSet,
    options: { signal?: AbortSignal | undefined },
  ): Promise<SetItem[]> {
    const format = await this.#format(set);
    if (format === 'plain')
      throw new SourceError(
        `sampling tables needs a custom, directory or tar dump; ${set.path} is plain SQL (remove sample, or dump with -Fc)`,
      );
    const { toc } = await listArchive(this.#binary(this.#config.pgRestore), set.path, {
      env: {},
      signal: options.signal,
    });
    return toc.tableData.map((entry) => ({ path: entry.name, size: 0 }));
  }

  async restore(
    stored: BackupSet,
    scratchDir: string,
    options: RestoreOptions,
  ): Promise<RestoreOutcome> {
    options.signal?.throwIfAborted();
    // The tools read a local path: the set itself, or its copy fetched into scratch.
    const set = {
      ...stored,
      path: await this.#store.localPath(stored, scratchDir, { signal: options.signal }),
    };
    const format = await this.#format(set);
    if (this.#config.scratchServer === undefined) {
      if (format !== 'plain') {
        throw new SourceError(
          `dump ${set.path} is in ${format} format: restoring it needs pg_restore and a scratch server; set scratchServer.url`,
        );
      }
      return this.#restoreIntoPglite(set, scratchDir, options);
    }
    return this.#restoreIntoServer(
      set,
      scratchDir,
      format,
      parseServerUrl(this.#config.scratchServer.url),
      options,
    );
  }

  async #restoreIntoServer(
    set: BackupSet,
    scratchDir: string,
    format: DumpFormat,
    address: ServerAddress,
    options: RestoreOptions,
  ): Promise<RestoreOutcome> {
    const { signal, log } = options;
    const env = toolEnv(address);
    const run = { env, timeoutMs: this.#config.timeout, signal };
    const commands: ExecRecord[] = [];
    const sourceDatabases: string[] = [];
    let toc: ArchiveToc | null = null;
    let pgDumpMajor: number | null = null;
    if (format === 'plain') {
      const head = await inspectPlainDump(set.path, { signal }).catch((error: unknown) => {
        if (error instanceof PlainDumpError) throw plainDumpFailure(set.path, error);
        if (isCompressedDataError(error)) throw compressedDumpDamage(set.path, error);
        throw error;
      });
      if (head.leavesTarget) {
        throw new SourceError(
          `plain dump ${set.path} line ${head.leavesTarget.line}: ${head.leavesTarget.what} would act outside the scratch database; dump without --create and --clean, or with -Fc`,
        );
      }
      pgDumpMajor = head.pgDumpMajor;
    } else {
      const listed = await listArchive(this.#binary(this.#config.pgRestore), set.path, run);
      commands.push(listed.record);
      toc = listed.toc;
      if (toc.dbname) sourceDatabases.push(toc.dbname);
      if (format === 'directory' || format === 'tar') {
        // pg_restore would load such data without a word: judged before anything is created.
        const damage = await findArchiveDataDamage(set.path, format, toc);
        if (damage !== null)
          throw new BackupDamagedError(`dump ${set.path} is damaged: ${damage.detail}`, damage, {
            files: [],
            refused: [],
            commands,
          });
      }
    }

    const name = scratchDatabaseName(scratchDir);
    const serverMajor = await createScratchDatabase(address, name, sourceDatabases);
    log.info({ database: name, server: address.display }, 'scratch database created');
    let dropped = false;
    const drop = async (): Promise<void> => {
      if (dropped) return;
      dropped = true;
      await dropScratchDatabase(address, name);
      log.info({ database: name }, 'scratch database dropped');
    };
    try {
      const target = databaseUrl(address, name);
      const refused: RefusedEntry[] = [];
      if (format === 'plain') {
        commands.push(
          await psqlRestore(this.#binary(this.#config.psql), set.path, target, {
            ...run,
            versions: { dump: pgDumpMajor, target: serverMajor },
          }),
        );
      } else {
        let list: string | null = null;
        if (options.items !== null && toc !== null) {
          list = path.join(scratchDir, SAMPLE_LIST);
          const chosen = options.items;
          const skipped = new Set(
            toc.tableData.filter((entry) => !chosen.has(entry.name)).map((entry) => entry.line),
          );
          await writeFile(list, `${toc.entries.filter((line) => !skipped.has(line)).join('\n')}\n`);
          const known = new Set(toc.tableData.map((entry) => entry.name));
          for (const item of chosen)
            if (!known.has(item))
              refused.push({ entry: `table ${item}`, reason: 'not found in the dump' });
        }
        const restored = await pgRestore(this.#binary(this.#config.pgRestore), set.path, target, {
          ...run,
          jobs: format === 'tar' ? null : this.#config.jobs,
          list,
          toc,
          targetMajor: serverMajor,
        });
        commands.push(restored.record);
        refused.push(...restored.failed);
      }
      const database = new ServerDatabase(address, name);
      const tables = await database.readOnly(
        (query) => countTables(query, { only: options.items, signal }),
        {
          statementTimeoutMs: this.#config.timeout ?? COUNT_TIMEOUT_MS,
        },
      );
      return { files: [], refused, tables, commands, database, dispose: drop };
    } catch (error) {
      await drop().catch((dropError: unknown) =>
        log.warn({ err: dropError, database: name }, 'could not drop the scratch database'),
      );
      // Damaged part-way: the commands run before it are evidence too.
      if (error instanceof BackupDamagedError)
        throw new BackupDamagedError(
          error.message,
          error.damage,
          { ...error.partial, commands: [...commands, ...(error.partial.commands ?? [])] },
          { cause: error },
        );
      if (error instanceof SourceError) throw error.withCommandsBefore(commands);
      throw error;
    }
  }

  async #restoreIntoPglite(
    set: BackupSet,
    scratchDir: string,
    options: RestoreOptions,
  ): Promise<RestoreOutcome> {
    if (options.items !== null)
      throw new SourceError(
        `sampling tables needs a custom, directory or tar dump; ${set.path} is plain SQL`,
      );
    const dataDir = path.join(scratchDir, 'pglite');
    const extensions = await pgliteExtensionsFor(set.path, { signal: options.signal });
    const lite = await openPglite(dataDir, {
      onSeedFailed: (error) =>
        options.log.warn({ err: String(error) }, 'PGlite seed not loaded; running initdb'),
      extensions,
    });
    try {
      const loaded = await loadPlainDump(lite, set.path, { signal: options.signal });
      options.log.info({ ...loaded }, 'plain dump loaded into the embedded database');
      const database = new PgliteDatabase(lite, dataDir);
      const tables = await database.readOnly(
        (query) => countTables(query, { signal: options.signal }),
        { statementTimeoutMs: COUNT_TIMEOUT_MS },
      );
      return { files: [], refused: [], tables, database, dispose: () => lite.close() };
    } catch (error) {
      const targetMajor =
        error instanceof PlainLoadError && error.failure !== null
          ? await lite
              .query<{ server_version_num: string }>('show server_version_num')
              .then((result) => majorOfVersionNum(result.rows[0]?.server_version_num ?? 0))
              .catch(() => null)
          : null;
      await lite.close().catch(() => undefined);
      options.signal?.throwIfAborted();
      if (isCompressedDataError(error)) throw compressedDumpDamage(set.path, error);
      // Garbage from damaged compressed data can fail a statement before the decompressor
      // reaches its check: its complaint is the truer cause.
      if (error instanceof PlainLoadError) {
        const damage = await compressedDamage(set.path, options.signal);
        if (damage !== null) throw compressedDumpDamage(set.path, damage);
      }
      if (error instanceof PlainLoadError && error.damaged) throw plainDumpFailure(set.path, error);
      if (error instanceof PlainLoadError)
        throw statementFailure(set.path, {
          line: error.line,
          message: error.message,
          sqlState: error.failure?.sqlState ?? null,
          context: error.failure?.context ?? null,
          versions: { dump: error.dumpMajor, target: targetMajor },
          cause: error,
        });
      throw error;
    }
  }

  async #format(set: BackupSet): Promise<DumpFormat> {
    return this.#config.format === 'auto' ? detectDumpFormat(set.path) : this.#config.format;
  }

  /** A binary as configured: a bare name is looked up on PATH, a path resolves from the config folder. */
  #binary(binary: string): string {
    return binary.includes('/') ? path.resolve(this.#context.configDir, binary) : binary;
  }
}

export const postgresSourceKind = defineSourceKind({
  ...postgresSourceConfigKind,
  create(config, context) {
    return new PostgresSource(config, context);
  },
});

/** A compressed dump whose decompressor says the data is damaged: the run is `failed`. */
function compressedDumpDamage(dump: string, error: unknown): BackupDamagedError {
  const message = error instanceof Error ? error.message : String(error);
  const detail = error instanceof CompressedDataError ? message : `corrupt gzip data (${message})`;
  return new BackupDamagedError(
    `plain dump ${dump}: ${detail}`,
    { detail, entry: null, offset: null },
    undefined,
    { cause: error },
  );
}

/** A plain dump cut short or with bytes invalid in its encoding is damaged (`failed`); other parse problems are errors. */
function plainDumpFailure(
  dump: string,
  error: { message: string; line: number; damaged: boolean },
): SourceError | BackupDamagedError {
  const message = `plain dump ${dump} line ${error.line}: ${error.message}`;
  if (!error.damaged) return new SourceError(message, false, { cause: error });
  return new BackupDamagedError(
    message,
    { detail: error.message, entry: `line ${error.line}`, offset: null },
    undefined,
    { cause: error },
  );
}

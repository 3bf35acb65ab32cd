import { createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { Command, Option } from 'commander';
import pg from '../evidence/node-postgres.js';
import { formatBytes } from '../model/primitives.js';
import {
  RESTORE_DRILL_MANIFEST_FORMAT,
  writeManifestForFolder,
} from '../manifest/restore-drill-manifest.js';
import { countTables } from '../sources/postgres/table-counts.js';
import { digestTables } from '../sources/postgres/table-digests.js';
import type { RestoredTable } from '../model/restore.js';
import type { QueryFn } from '../sources/restored-database.js';
import { cliPath, withCommonOptions, type CommonOptions } from './context.js';
import { CliError, ExitCode } from './exit-codes.js';

interface ManifestOptions extends CommonOptions {
  out?: string;
  format: 'restore-drill';
  database?: string;
  records: boolean;
  digests: boolean;
}

/**
 * `restore-drill manifest PATH | --database URL`: writes restore-drill's JSON manifest at
 * backup time, for a folder (every file's size and SHA-256) or for a database (every
 * table's exact row count, from one snapshot), to stdout or atomically to `--out`.
 */
export function manifestCommand(): Command {
  const command = new Command('manifest')
    .description(
      'Write a restore-drill manifest at backup time: files of a folder (size, SHA-256, records of CSV/TSV/JSONL/SQLite files) or tables of a database (row count, content digest)',
    )
    .argument('[path]', 'folder to describe')
    .option('-o, --out <file>', 'write the manifest to this file (atomically) instead of stdout')
    .addOption(
      new Option('--format <format>', 'manifest format')
        .choices(['restore-drill'])
        .default('restore-drill'),
    )
    .option(
      '--database <url>',
      'describe this PostgreSQL database instead: exact row count and content digest per table',
    )
    .option(
      '--no-records',
      'folders: do not count the records of CSV/TSV/JSONL/SQLite files (only sizes and hashes)',
    )
    .option(
      '--no-digests',
      'databases: row counts only, without content digests (a digest reads every row: a sequential scan per table)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  restore-drill manifest /backups/files/2026-11-27 --out /backups/files/2026-11-27.manifest.json\n  restore-drill manifest --database postgres://backup@db/shop --out /backups/db/shop.manifest.json',
    );
  // --config and --log-level are accepted like everywhere; a manifest needs no config.
  return withCommonOptions(command, { json: false }).action(
    async (target: string | undefined, options: ManifestOptions) => {
      if ((target === undefined) === (options.database === undefined)) {
        throw new CliError('give either a folder PATH or --database URL', ExitCode.Usage);
      }
      const out = options.out === undefined ? null : cliPath(options.out);
      if (target !== undefined) await folderManifest(cliPath(target), out, options.records);
      else await databaseManifest(options.database as string, out, options.digests);
    },
  );
}

async function folderManifest(dir: string, out: string | null, records: boolean): Promise<void> {
  const info = await stat(dir).catch((error: NodeJS.ErrnoException) => {
    throw new CliError(
      `cannot read ${dir}: ${error.code === 'ENOENT' ? 'not found' : (error.code ?? error.message)}`,
      ExitCode.Usage,
    );
  });
  if (!info.isDirectory()) throw new CliError(`${dir} is not a folder`, ExitCode.Usage);
  // The manifest being written (and its partial file) may lie inside the folder: never list it.
  const exclude =
    out === null
      ? []
      : [out, partialOf(out)]
          .map((file) => path.relative(dir, file))
          .filter((rel) => !rel.startsWith('..') && !path.isAbsolute(rel))
          .map((rel) => rel.split(path.sep).join('/'));
  const result = await writeTo(out, (stream) =>
    writeManifestForFolder(dir, stream, { source: dir, exclude, records }),
  );
  for (const skipped of result.skipped)
    process.stderr.write(`restore-drill: not listed: ${skipped.path} (${skipped.reason})\n`);
  for (const uncounted of result.uncounted)
    process.stderr.write(
      `restore-drill: records not counted: ${uncounted.path} (${uncounted.reason})\n`,
    );
  const counted = result.counted > 0 ? `, records of ${result.counted} counted` : '';
  process.stderr.write(
    `restore-drill: manifest of ${result.files} files (${formatBytes(result.bytes)}${counted})${result.links > 0 ? ` and ${result.links} links` : ''} in ${dir}${out ? ` written to ${out}` : ''}\n`,
  );
}

async function databaseManifest(url: string, out: string | null, digests: boolean): Promise<void> {
  const shown = withoutPassword(url);
  const tables = await describeDatabase(url, shown, digests);
  const document = {
    format: RESTORE_DRILL_MANIFEST_FORMAT,
    version: 1,
    createdAt: new Date().toISOString(),
    source: shown,
    files: [],
    tables,
  };
  await writeTo(out, async (stream) => {
    stream.write(`${JSON.stringify(document, null, 1)}\n`);
  });
  process.stderr.write(
    `restore-drill: manifest of ${tables.length} tables${digests ? ' (row counts and digests)' : ''} of ${shown}${out ? ` written to ${out}` : ''}\n`,
  );
}

/** Row counts (and digests) of every table, read in one REPEATABLE READ snapshot so they agree with each other. */
async function describeDatabase(
  url: string,
  shown: string,
  digests: boolean,
): Promise<RestoredTable[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 15_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('begin transaction isolation level repeatable read read only');
    const query: QueryFn = async (text, params) => {
      const result = await client.query({ text, values: params ? [...params] : [] });
      return {
        rows: result.rows as Record<string, unknown>[],
        fields: result.fields.map((field) => ({ name: field.name })),
      };
    };
    const tables = digests ? await digestTables(query) : await countTables(query);
    await client.query('rollback');
    return tables;
  } catch (error) {
    throw new CliError(
      `cannot count the tables of ${shown}: ${(error as Error).message.split('\n')[0]}`,
      ExitCode.Failed,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    return parsed.toString();
  } catch {
    throw new CliError('--database: expected a postgres:// URL', ExitCode.Usage);
  }
}

function partialOf(out: string): string {
  return `${out}.partial-${process.pid}`;
}

/** Runs `write` into stdout, or into a temporary file renamed over `out` once complete. */
async function writeTo<T>(
  out: string | null,
  write: (stream: NodeJS.WritableStream & WriteStream) => Promise<T>,
): Promise<T> {
  if (out === null) return write(process.stdout as unknown as NodeJS.WritableStream & WriteStream);
  const partial = partialOf(out);
  const stream = createWriteStream(partial, { flags: 'wx' });
  try {
    const result = await write(stream);
    stream.end();
    await finished(stream);
    await rename(partial, out);
    return result;
  } catch (error) {
    stream.destroy();
    await rm(partial, { force: true });
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot write the manifest: ${(error as Error).message}`, ExitCode.Failed);
  }
}

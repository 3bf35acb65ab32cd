import { access, constants } from 'node:fs/promises';
import { Command } from 'commander';
import { verifyBundle, verifyChain, type ChainReport, type PurgeEntry } from '../evidence/chain.js';
import { backupEvidence, EvidenceBackupError } from '../evidence/backup.js';
import { exportEvidence } from '../evidence/export.js';
import {
  checkRetentionFloor,
  planPurge,
  purgeEvidence,
  PurgeRefusedError,
  RetentionFloorError,
} from '../evidence/purge.js';
import {
  cliPath,
  loadConfigOrExit,
  loggerFor,
  openStoreFor,
  spoolNeedsMention,
  spoolWaiting,
  formatSpoolWaiting,
  type SpoolWaiting,
  printJson,
  withCommonOptions,
  type CommonOptions,
} from './context.js';
import { CliError, ExitCode } from './exit-codes.js';
import { plural } from '../model/describe.js';
import { parseTimeOption, writeFileAtomically } from './report.js';

/** `restore-drill evidence`: verify, export and purge the evidence chain. */
export function evidenceCommand(): Command {
  return new Command('evidence')
    .description('Check, export, back up or purge the tamper-evident evidence chain')
    .addCommand(verifyCommand().exitOverride())
    .addCommand(exportCommand().exitOverride())
    .addCommand(backupCommand().exitOverride())
    .addCommand(purgeCommand().exitOverride());
}

function verifyCommand(): Command {
  const command = new Command('verify')
    .description(
      'Recompute the evidence chain (in the database, or in an exported bundle, offline) and name the first broken record; exit 0 intact, 1 broken',
    )
    .argument('[bundle]', 'an exported bundle (.jsonl) to verify without the database');
  withCommonOptions(command).action(async (bundle: string | undefined, options: CommonOptions) => {
    let report: ChainReport;
    let spool: SpoolWaiting | undefined;
    if (bundle !== undefined) {
      const file = cliPath(bundle);
      try {
        await access(file, constants.R_OK);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw new CliError(
          `cannot read bundle ${bundle}: ${code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : (error as Error).message}`,
          ExitCode.Usage,
        );
      }
      report = await verifyBundle(file);
    } else {
      const loaded = await loadConfigOrExit(options);
      const store = await openStoreFor(loaded, loggerFor(options));
      try {
        report = await verifyChain(store.db, { items: true });
      } finally {
        await store.close();
      }
      spool = await spoolWaiting(loaded);
    }
    // Results waiting in the spool are evidence the chain does not hold yet: not verified.
    const waiting = spool !== undefined && spoolNeedsMention(spool);
    if (options.json) printJson(waiting ? { ...report, spool } : report);
    else {
      process.stdout.write(`${formatChainReport(report, bundle)}\n`);
      if (waiting && spool) process.stdout.write(`NOT VERIFIED: ${formatSpoolWaiting(spool)}\n`);
    }
    process.exitCode = report.intact && !waiting ? ExitCode.Ok : ExitCode.Failed;
  });
  return command;
}

/** The verification as a person reads it: the verdict, the first break, the head, the cuts. */
export function formatChainReport(report: ChainReport, bundle?: string): string {
  const what = bundle === undefined ? 'evidence chain' : `bundle ${bundle}`;
  const range =
    report.firstSeq === null
      ? 'no records'
      : `${report.records} record${report.records === 1 ? '' : 's'}${report.lastSeq === null ? '' : `, seq ${report.firstSeq} to ${report.lastSeq}`}`;
  const from =
    report.anchor.kind === 'genesis'
      ? 'from the genesis hash'
      : report.anchor.kind === 'purge'
        ? `from the anchor of the last purge (record_hash of seq ${report.anchor.seq}: ${report.anchor.hash})`
        : `from the bundle's anchor${report.anchor.seq === null ? '' : ` (record_hash of seq ${report.anchor.seq})`}: ${report.anchor.hash}`;
  const lines: string[] = [];
  const items = report.items;
  const itemsDiffer = items !== null && items.differing > 0;
  if (report.intact) lines.push(`${what} intact: ${range}, verified ${from}`);
  else if (report.break === null && itemsDiffer) {
    lines.push(
      `${what} BROKEN: the items of ${items.differing} run${items.differing === 1 ? '' : 's'} do not match their records' itemsDigest`,
    );
    lines.push(`  records: ${range}, chain verified ${from}`);
  } else {
    lines.push(`${what} BROKEN: ${report.break?.message}`);
    lines.push(
      `  problem: ${report.break?.problem}${report.break?.field ? `, field ${report.break.field}` : ''}`,
    );
    lines.push(`  verified intact before it: ${report.records === 0 ? 'nothing' : range}, ${from}`);
  }
  if (items !== null) {
    for (const problem of items.problems) lines.push(`  ${problem.message}`);
    if (items.differing > items.problems.length)
      lines.push(`  … and ${items.differing - items.problems.length} more runs whose items differ`);
    lines.push(
      `items: ${plural(items.items, 'item')} of ${plural(items.runs, 'run')} recomputed against each record's itemsDigest${itemsDiffer ? `, ${items.differing} differ` : ', all match'}`,
    );
  }
  if (report.head) lines.push(`head: seq ${report.head.seq} record_hash ${report.head.recordHash}`);
  if (report.unusedSeqs > 0)
    lines.push(`seq numbers never used (rolled-back inserts, harmless): ${report.unusedSeqs}`);
  for (const purge of report.purges) lines.push(formatPurge(purge));
  return lines.join('\n');
}

function formatPurge(purge: PurgeEntry): string {
  return `chain cut by purge ${purge.id} on ${purge.purgedAt}: seq ${purge.firstSeq} to ${purge.lastSeq} removed (${purge.records} records, ${purge.items} items, runs started before ${purge.cutoff}) on ${purge.host}; anchor ${purge.anchorHash}`;
}

interface ExportOptions extends CommonOptions {
  since?: string;
  items?: boolean;
  out?: string;
}

function exportCommand(): Command {
  const command = new Command('export')
    .description(
      'Write the evidence as a bundle (JSON Lines: a header, then one line per record with its hashes) that `evidence verify BUNDLE` checks offline',
    )
    .option(
      '--since <when>',
      'from the first run started since then: a duration (365d) or a date; everything kept when absent',
    )
    .option('--items', "also write each run's restored items (path, size, SHA-256)")
    .option('-o, --out <file>', 'write to this file instead of stdout');
  withCommonOptions(command, { json: false }).action(async (options: ExportOptions) => {
    const now = new Date();
    const since =
      options.since === undefined ? undefined : parseTimeOption('--since', options.since, now);
    const loaded = await loadConfigOrExit(options);
    const log = loggerFor(options);
    const store = await openStoreFor(loaded, log);
    try {
      if (options.out === undefined) {
        const written = await exportEvidence(store.db, process.stdout, {
          since,
          items: options.items,
          now,
        });
        log.info(written, 'evidence exported');
      } else {
        const file = cliPath(options.out);
        await writeFileAtomically(file, async (stream) => {
          const written = await exportEvidence(store.db, stream, {
            since,
            items: options.items,
            now,
          });
          log.info({ file, ...written }, 'evidence exported');
        });
      }
    } finally {
      await store.close();
    }
  });
  return command;
}

interface BackupCommandOptions extends CommonOptions {
  out: string;
  pgDump?: boolean;
}

function backupCommand(): Command {
  const command = new Command('backup')
    .description(
      'Write a self-verifying backup of the evidence store into a new folder inside DIR named by its UTC time (the export bundle with items, a manifest of SHA-256s and the chain head), for the evidence-backup drill to restore',
    )
    .requiredOption('-o, --out <dir>', 'the folder to make the backup in (created when missing)')
    .option(
      '--pg-dump',
      'also write a pg_dump of the evidence database, in the same snapshot (PostgreSQL stores only)',
    );
  withCommonOptions(command).action(async (options: BackupCommandOptions) => {
    const loaded = await loadConfigOrExit(options);
    const url = loaded.config.database.url;
    if (options.pgDump && url === undefined)
      throw new CliError(
        '--pg-dump: the evidence store is embedded (PGlite), not PostgreSQL; its backup is the bundle',
        ExitCode.Usage,
      );
    const log = loggerFor(options);
    const store = await openStoreFor(loaded, log);
    let outcome;
    try {
      outcome = await backupEvidence(store.db, {
        out: cliPath(options.out),
        dialect: store.dialect,
        pgDump: options.pgDump && url !== undefined ? { url } : undefined,
      });
    } catch (error) {
      if (error instanceof EvidenceBackupError) throw new CliError(error.message, ExitCode.Failed);
      throw error;
    } finally {
      await store.close();
    }
    const { chain } = outcome.manifest;
    if (options.json) printJson({ path: outcome.path, manifest: outcome.manifest });
    else
      process.stdout.write(
        `evidence backed up to ${outcome.path}: ${chain.records} record${chain.records === 1 ? '' : 's'} (${chain.runs} run${chain.runs === 1 ? '' : 's'}, ${chain.reviews} review${chain.reviews === 1 ? '' : 's'}, ${chain.items} item${chain.items === 1 ? '' : 's'})${chain.head === null ? '' : `, head seq ${chain.head.seq} record_hash ${chain.head.recordHash}`}; files: ${outcome.manifest.files.map((file) => file.name).join(', ')}, manifest.json\n`,
      );
  });
  return command;
}

interface PurgeOptions extends CommonOptions {
  before: string;
  yes?: boolean;
}

function purgeCommand(): Command {
  const command = new Command('purge')
    .description(
      'Remove the evidence of runs started before a cutoff (retention); recorded in the purge log so the chain still verifies',
    )
    .requiredOption(
      '--before <when>',
      'remove runs started before this: a duration back from now (400d) or a date',
    )
    .option('--yes', 'really remove; without it, only say what would be removed');
  withCommonOptions(command).action(async (options: PurgeOptions) => {
    const now = new Date();
    const before = parseTimeOption('--before', options.before, now);
    if (before.getTime() > now.getTime())
      throw new CliError(`--before: ${before.toISOString()} is in the future`, ExitCode.Usage);
    const loaded = await loadConfigOrExit(options);
    const minimumRetentionMs = loaded.config.evidence.retention.minimum;
    const store = await openStoreFor(loaded, loggerFor(options));
    try {
      if (!options.yes) {
        const plan = await planPurge(store.db, before);
        // A dry run refuses as the purge would: the floor is named before anyone adds --yes.
        if (plan !== null) {
          try {
            checkRetentionFloor(plan, minimumRetentionMs, now);
          } catch (error) {
            throw floorAsUsage(error);
          }
        }
        if (options.json)
          printJson({ purged: false, before: before.toISOString(), wouldRemove: plan });
        else if (plan === null)
          process.stdout.write(
            `nothing to purge: no run started before ${before.toISOString()} (the newest record is always kept)\n`,
          );
        else
          process.stdout.write(
            `would remove ${plan.records} records (seq ${plan.firstSeq} to ${plan.lastSeq}) of runs started before ${before.toISOString()}; add --yes to purge\n`,
          );
        process.exitCode = plan === null ? ExitCode.Ok : ExitCode.Usage;
        return;
      }
      let outcome;
      try {
        outcome = await purgeEvidence(store.db, { before, now, minimumRetentionMs });
      } catch (error) {
        if (error instanceof PurgeRefusedError) throw new CliError(error.message, ExitCode.Failed);
        throw floorAsUsage(error);
      }
      if (options.json)
        printJson({
          purged: outcome.entry !== null,
          before: before.toISOString(),
          entry: outcome.entry,
          starts: outcome.starts,
          alerts: outcome.alerts,
        });
      else if (outcome.entry === null)
        process.stdout.write(
          `nothing to purge: no run started before ${before.toISOString()} (the newest record is always kept)\n`,
        );
      else
        process.stdout.write(
          `purged ${outcome.entry.records} records (seq ${outcome.entry.firstSeq} to ${outcome.entry.lastSeq}), ${outcome.entry.items} items${outcome.alerts > 0 ? `, ${outcome.alerts} alert events` : ''}; ${formatPurge(outcome.entry)}\n`,
        );
    } finally {
      await store.close();
    }
  });
  return command;
}

/** A purge under the retention floor is a usage error (exit 2): that cutoff is not allowed. */
function floorAsUsage(error: unknown): unknown {
  return error instanceof RetentionFloorError ? new CliError(error.message, ExitCode.Usage) : error;
}

import path from 'node:path';
import {
  failedResult,
  resultFromFindings,
  type CheckResult,
  type Finding,
} from '../model/check-result.js';
import {
  BACKUP_BUNDLE,
  BACKUP_MANIFEST,
  readBackupManifest,
  type BackupManifest,
} from '../evidence/backup.js';
import {
  compareWithLive,
  labelOf,
  openScratchEvidenceDb,
  restoreBundle,
  type ScratchEvidenceDb,
} from '../evidence/backup-restore.js';
import { verifyBundle, verifyChain, type ChainBreak, type ChainReport } from '../evidence/chain.js';
import { reasonOf } from '../evidence/errors.js';
import type { ItemsReport } from '../evidence/items-check.js';
import { DirectorySource } from './directory-source.js';
import { PgliteDatabase } from './postgres/pglite-database.js';
import { SourceError, type BackupSet, type SetItem } from '../model/restore.js';
import type { RestoreOptions, RestoreOutcome, RestoreSource } from './restore-source.js';
import { defineSourceKind, type SourceContext } from './source-kind.js';

import {
  evidenceBackupSourceConfigKind,
  type EvidenceBackupSourceConfig,
} from './evidence-backup-source-config.js';

/**
 * Drills the evidence store itself. Restores the chosen backup folder into scratch
 * (its files are the run's items), checks every file against the manifest, verifies
 * the bundle's hash chain, loads it into a fresh embedded evidence database in scratch
 * and verifies that too, then compares every record with the LIVE chain: the backup
 * may lag, never disagree. Each of these is a check result naming the file or record
 * at fault; only a backup that cannot be reached at all is an error.
 */
export class EvidenceBackupSource implements RestoreSource {
  readonly kind = 'evidence-backup';
  readonly #folders: DirectorySource;
  readonly #context: SourceContext;

  constructor(config: EvidenceBackupSourceConfig, context: SourceContext) {
    this.#folders = new DirectorySource(
      { kind: 'directory', path: config.path, select: config.select },
      context,
    );
    this.#context = context;
  }

  listSets(options: { signal?: AbortSignal | undefined }): Promise<BackupSet[]> {
    return this.#folders.listSets(options);
  }

  listItems(set: BackupSet, options: { signal?: AbortSignal | undefined }): Promise<SetItem[]> {
    return this.#folders.listItems(set, options);
  }

  /** Always the whole folder: the chain is only proven whole. */
  async restore(
    set: BackupSet,
    scratchDir: string,
    options: RestoreOptions,
  ): Promise<RestoreOutcome> {
    const live = this.#context.evidence;
    if (live === undefined)
      throw new SourceError(
        'the evidence-backup source needs the live evidence store to compare with',
      );
    const filesDir = scratchDir;
    const copied = await this.#folders.restore(set, filesDir, { ...options, items: null });
    const { files } = copied;
    const outcome: RestoreOutcome = copied;
    const checks: CheckResult[] = [];
    const finish = (verified: number): RestoreOutcome => ({
      ...outcome,
      checks,
      verification: { items: files.length, verified },
    });

    let manifest: BackupManifest;
    try {
      manifest = await readBackupManifest(filesDir, BACKUP_MANIFEST);
    } catch (error) {
      checks.push(
        failedResult('evidenceManifest', 'unreadable', {
          expected: `a valid ${BACKUP_MANIFEST}`,
          actual: reasonOf(error),
          detail: `backup ${set.path}: ${reasonOf(error)}`,
        }),
      );
      return finish(0);
    }
    const manifestCheck = checkFiles(manifest, copied.files);
    checks.push(manifestCheck.result);

    const bundle = path.join(filesDir, BACKUP_BUNDLE);
    const report = await verifyBundle(bundle);
    const chainFindings: Finding[] = [];
    if (!report.intact) chainFindings.push(breakFinding(report.break, report.items));
    else chainFindings.push(...manifestChainFindings(manifest, report));
    checks.push(
      resultFromFindings('evidenceChain', chainFindings, {
        expected: { intact: true, head: manifest.chain.head, records: manifest.chain.records },
        actual: { intact: report.intact, head: report.head, records: report.records },
        passDetail: `the bundle's chain is intact: ${report.records} records${report.head ? ` to seq ${report.head.seq}` : ''}, each run's items match its itemsDigest, head as in the manifest`,
        failDetail: (found) => found.map((finding) => describeFinding(finding)).join('; '),
      }),
    );
    if (!report.intact || chainFindings.length > 0) return finish(manifestCheck.verified);

    // The bundle restores into a fresh evidence database, which verifies as the live one does.
    let restored: ScratchEvidenceDb | undefined;
    // Hidden beside the backup's files, so the items stay the backup's own.
    const dataDir = path.join(scratchDir, '.restored-evidence');
    try {
      restored = await openScratchEvidenceDb(dataDir, (error) =>
        options.log.warn({ err: reasonOf(error) }, 'PGlite seed not loaded; running initdb'),
      );
      const counts = await restoreBundle(restored.db, bundle);
      options.signal?.throwIfAborted();
      const again = await verifyChain(restored.db, { items: true });
      const restoreFindings: Finding[] = [];
      if (!again.intact) restoreFindings.push(breakFinding(again.break, again.items));
      const expected = {
        runs: manifest.chain.runs,
        reviews: manifest.chain.reviews,
        selftests: manifest.chain.selftests,
        items: manifest.chain.items,
        head: manifest.chain.head,
      };
      const actual = { ...counts, head: again.head };
      if (
        counts.runs !== expected.runs ||
        counts.reviews !== expected.reviews ||
        counts.selftests !== expected.selftests ||
        counts.items !== expected.items ||
        again.head?.recordHash !== expected.head?.recordHash
      )
        restoreFindings.push({
          item: 'restored database',
          problem: 'counts-differ',
          expected,
          actual,
        });
      checks.push(
        resultFromFindings('evidenceRestore', restoreFindings, {
          expected,
          actual,
          passDetail: `restored into an embedded evidence database: ${counts.runs} runs, ${counts.reviews} reviews, ${counts.items} items; its chain verifies to the manifest's head`,
          failDetail: (found) => found.map((finding) => describeFinding(finding)).join('; '),
        }),
      );
    } catch (error) {
      await restored?.close().catch(() => undefined);
      options.signal?.throwIfAborted();
      checks.push(
        failedResult('evidenceRestore', 'not-restorable', {
          expected: 'the bundle loads into a fresh evidence database',
          actual: reasonOf(error),
          detail: `the bundle does not restore into an evidence database: ${reasonOf(error)}`,
        }),
      );
      return finish(manifestCheck.verified);
    }

    let comparison;
    try {
      comparison = await compareWithLive(live, bundle);
    } catch (error) {
      await restored.close().catch(() => undefined);
      throw new SourceError(`cannot read the live evidence store: ${reasonOf(error)}`, true, {
        cause: error,
        code: 'store.unreachable',
      });
    }
    const liveFindings: Finding[] = comparison.disagreements.map((found) => ({
      item: `seq ${found.seq} (${labelOf(found.kind, found.runId)})`,
      problem: found.problem === 'missing' ? 'not-in-live-chain' : 'differs-from-live',
      expected: found.liveHash,
      actual: found.backupHash,
    }));
    const { backupHead, liveHead } = comparison;
    checks.push({
      ...resultFromFindings('evidenceLive', liveFindings, {
        expected: { disagreements: 0 },
        actual: {
          compared: comparison.compared,
          purgedSince: comparison.purgedSince,
          backupHead,
          liveHead,
          liveRecordsAfter: comparison.liveRecordsAfter,
          liveRuns: comparison.liveRuns,
        },
        passDetail: `every record of the backup is in the live chain (${comparison.compared} compared${comparison.purgedSince > 0 ? `, ${comparison.purgedSince} purged live since` : ''}); the backup lags the live head by ${comparison.liveRecordsAfter} record${comparison.liveRecordsAfter === 1 ? '' : 's'}`,
        failDetail: (found) =>
          `the backup disagrees with the live chain: ${found
            .slice(0, 3)
            .map(
              (finding) =>
                `${finding.item} ${finding.problem === 'not-in-live-chain' ? 'is not in the live chain' : 'differs from the live record'}`,
            )
            .join(
              '; ',
            )}${comparison.disagreementsTotal > 3 ? ` and ${comparison.disagreementsTotal - 3} more` : ''}`,
      }),
      ...(comparison.disagreementsTotal > liveFindings.length
        ? { findingsTotal: comparison.disagreementsTotal }
        : {}),
    });
    const open = restored;
    return {
      ...finish(manifestCheck.verified),
      database: new PgliteDatabase(open.lite, dataDir),
      dispose: () => open.close(),
    };
  }
}

/** Each file of the manifest restored with its size and SHA-256, and nothing else beside it. */
function checkFiles(
  manifest: BackupManifest,
  restored: readonly { path: string; size: number; sha256: string }[],
): { result: CheckResult; verified: number } {
  const byPath = new Map(restored.map((file) => [file.path, file]));
  const findings: Finding[] = [];
  let verified = 0;
  for (const file of manifest.files) {
    const found = byPath.get(file.name);
    if (found === undefined) {
      findings.push({ item: file.name, problem: 'missing', expected: file, actual: null });
      continue;
    }
    if (found.sha256 !== file.sha256 || found.size !== file.bytes) {
      findings.push({
        item: file.name,
        problem: 'changed',
        expected: { bytes: file.bytes, sha256: file.sha256 },
        actual: { bytes: found.size, sha256: found.sha256 },
      });
      continue;
    }
    verified++;
  }
  const listed = new Set([...manifest.files.map((file) => file.name), BACKUP_MANIFEST]);
  for (const file of restored)
    if (!listed.has(file.path))
      findings.push({ item: file.path, problem: 'extra', expected: null, actual: file });
  return {
    result: resultFromFindings('evidenceManifest', findings, {
      expected: { files: manifest.files.length },
      actual: { files: restored.length - 1, verified },
      passDetail: `${verified} file${verified === 1 ? '' : 's'} match the backup's manifest (size and SHA-256)`,
      failDetail: (found) =>
        found.map((finding) => `${finding.item}: ${finding.problem}`).join('; '),
    }),
    verified,
  };
}

/**
 * Where the manifest's account of the chain disagrees with the intact bundle: every
 * field of it, not only the head's hash, so an edited manifest never passes; and a
 * bundle without item lines (the backup always writes them) has lost evidence.
 */
function manifestChainFindings(manifest: BackupManifest, report: ChainReport): Finding[] {
  const findings: Finding[] = [];
  const said = manifest.chain;
  const fields: [string, unknown, unknown][] = [
    ['records', said.records, report.records],
    ['firstSeq', said.firstSeq, report.firstSeq],
    ['lastSeq', said.lastSeq, report.lastSeq],
    ['anchor.seq', said.anchor.seq, report.anchor.seq],
    ['anchor.prevHash', said.anchor.prevHash, report.anchor.hash],
    ['head.seq', said.head?.seq ?? null, report.head?.seq ?? null],
    ['head.recordHash', said.head?.recordHash ?? null, report.head?.recordHash ?? null],
  ];
  for (const [field, expected, actual] of fields)
    if (expected !== actual)
      findings.push({
        item: `${BACKUP_MANIFEST} chain.${field}`,
        problem: 'manifest-differs',
        expected,
        actual: `${BACKUP_MANIFEST} says chain.${field} ${String(expected)}, the bundle's chain has ${String(actual)}`,
      });
  if (report.items === null)
    findings.push({
      item: BACKUP_BUNDLE,
      problem: 'items-missing',
      expected: 'item lines for every run',
      actual: `${BACKUP_BUNDLE} has no item lines (its header says items: false): the runs' restored items are not in the backup`,
    });
  return findings;
}

/** A chain break (or items that differ) as a finding naming the record. */
function breakFinding(found: ChainBreak | null, items: ItemsReport | null): Finding {
  if (found === null) {
    const problem = items?.problems[0];
    return {
      item: problem ? `seq ${problem.seq} (run ${problem.runId})` : BACKUP_BUNDLE,
      problem: 'items-differ',
      expected: problem?.expected ?? 'the items of each run match its itemsDigest',
      actual: problem?.message ?? 'items differ',
    };
  }
  return {
    item:
      found.seq === null
        ? BACKUP_BUNDLE
        : `seq ${found.seq}${found.runId === null ? '' : ` (run ${found.runId})`}`,
    problem: found.problem,
    expected: found.expected,
    actual: found.message,
  };
}

function describeFinding(finding: Finding): string {
  return typeof finding.actual === 'string'
    ? finding.actual
    : `${finding.item}: ${finding.problem}`;
}

export const evidenceBackupSourceKind = defineSourceKind({
  ...evidenceBackupSourceConfigKind,
  create(config, context) {
    return new EvidenceBackupSource(config, context);
  },
});

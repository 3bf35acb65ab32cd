import path from 'node:path';
import { backupEvidence, EvidenceBackupError, type BackupOutcome } from '../src/evidence/backup.js';
import type { PeriodicJob } from '../src/schedule/job.js';

/**
 * The evidence store's own backup, on `evidence.backup.schedule`: a new folder in
 * `evidence.backup.out` named by the slot's UTC time, for an `evidence-backup` drill
 * to restore. Replicas fill the same slot with the same name, so only one writes it;
 * the others find it there and stand down.
 */
export const evidenceBackupJob: PeriodicJob<BackupOutcome | null> = {
  name: 'evidence-backup',
  schedule: (config) => config.evidence.backup?.schedule ?? null,
  async run({ scheduledFor }, { loaded, db, log, signal }) {
    const settings = loaded.config.evidence.backup;
    if (settings === undefined) return null;
    const url = loaded.config.database.url;
    try {
      const outcome = await backupEvidence(db, {
        out: path.resolve(loaded.dir, settings.out),
        dialect: url === undefined ? 'pglite' : 'postgres',
        pgDump: settings.pgDump && url !== undefined ? { url, signal } : undefined,
        now: scheduledFor,
      });
      log.info(
        { path: outcome.path, records: outcome.manifest.chain.records },
        'evidence backed up',
      );
      return outcome;
    } catch (error) {
      if (error instanceof EvidenceBackupError && error.exists) {
        log.info({ slot: scheduledFor.toISOString() }, 'evidence backup of this slot already made');
        return null;
      }
      throw error;
    }
  },
};

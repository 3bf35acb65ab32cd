import type { ChecksConfig, DrillConfig } from '../config/schema.js';
import type { RunRecord } from '../evidence/run-record.js';
import { BytesCheck } from './bytes-check.js';
import type { Check } from './check.js';
import { ExtraFilesCheck } from './extra-files-check.js';
import { FilesCheck } from './files-check.js';
import { ManifestCheck, ManifestLoader } from './manifest-check.js';
import { RestoreCheck } from './restore-check.js';
import { RpoCheck } from './rpo-check.js';
import { RtoCheck } from './rto-check.js';
import { SqlCheck } from './sql-check.js';
import { TablesCheck } from './tables-check.js';

/** Tuning for the checks buildChecks makes. */
export interface BuildChecksOptions {
  /** Files hashed at once when a manifest needs a file hashed again (default 4). */
  hashConcurrency?: number;
  /** The drill's last passing run, for `tables: { from: last-pass }`. */
  lastPass?: RunRecord | undefined;
}

/**
 * The checks for one drill, in the order they run: restore, manifest, extraFiles (only
 * with a manifest), files, bytes, tables, sql:<name>…, rpo, and rto last so it sees the others' time. The
 * instances keep no state between runs and can be reused.
 */
export function buildChecks(
  checks: ChecksConfig,
  targets: DrillConfig['targets'],
  options: BuildChecksOptions = {},
): Check[] {
  const list: Check[] = [new RestoreCheck()];
  const loader = checks.manifest === undefined ? null : new ManifestLoader(checks.manifest);
  if (checks.manifest !== undefined && loader !== null) {
    // With a tables check, row counts are judged there only.
    list.push(
      new ManifestCheck(checks.manifest, loader, {
        hashConcurrency: options.hashConcurrency,
        tables: checks.tables === undefined,
      }),
    );
    list.push(new ExtraFilesCheck(checks.extraFiles, loader));
  }
  if (checks.files !== undefined) list.push(new FilesCheck(checks.files, checks.manifest));
  if (checks.bytes !== undefined) list.push(new BytesCheck(checks.bytes, checks.manifest));
  if (checks.tables !== undefined) {
    const baseline =
      checks.tables.from === 'manifest' && loader !== null
        ? { from: 'manifest' as const, loader }
        : { from: 'last-pass' as const, run: options.lastPass };
    list.push(new TablesCheck(checks.tables, baseline));
  }
  for (const assertion of checks.sql ?? []) list.push(new SqlCheck(assertion));
  if (targets?.rpo !== undefined) list.push(new RpoCheck(targets.rpo));
  if (targets?.rto !== undefined) list.push(new RtoCheck(targets.rto));
  return list;
}

export { BytesCheck } from './bytes-check.js';
export { ExtraFilesCheck } from './extra-files-check.js';
export { FilesCheck } from './files-check.js';
export { ManifestCheck, ManifestLoader, locateManifest } from './manifest-check.js';
export { RestoreCheck } from './restore-check.js';
export { RpoCheck } from './rpo-check.js';
export { RtoCheck } from './rto-check.js';
export { SqlCheck } from './sql-check.js';
export { TablesCheck } from './tables-check.js';

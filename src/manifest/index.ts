import { parseBackupManifest } from './backup-manifest.js';
import { ManifestReadError, type Manifest, type ManifestFormat } from './manifest.js';
import { parseRestoreDrillManifest } from './restore-drill-manifest.js';
import { parseSha256sumManifest } from './sha256sum.js';

export { crc32c, crc32cHex } from './crc32c.js';
export {
  checksumAlgorithms,
  createDigester,
  hashFile,
  HASH_CHUNK_BYTES,
  type ChecksumAlgorithm,
  type Digester,
  type FileDigest,
} from './hash-file.js';
export {
  isIgnored,
  MAX_MANIFEST_PROBLEMS,
  ManifestReadError,
  normaliseManifestPath,
  type Manifest,
  type ManifestEntry,
  type ManifestFormat,
  type ManifestProblem,
  type ManifestProblemKind,
} from './manifest.js';
export { parseSha256sumLine, parseSha256sumManifest } from './sha256sum.js';
export { parseBackupManifest, PG_IGNORED_PATHS } from './backup-manifest.js';
export {
  parseRestoreDrillManifest,
  restoreDrillManifestSchema,
  writeManifestForFolder,
  type RestoreDrillManifest,
  type WriteManifestOptions,
  type WriteManifestResult,
} from './restore-drill-manifest.js';

const PARSERS: Record<
  ManifestFormat,
  (path: string, options: { signal?: AbortSignal | undefined }) => Promise<Manifest>
> = {
  sha256sum: parseSha256sumManifest,
  backup_manifest: parseBackupManifest,
  'restore-drill': parseRestoreDrillManifest,
};

const FS_ERRORS: Record<string, string> = {
  ENOENT: 'not found',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a folder, expected a file',
  ENOTDIR: 'a parent of it is not a folder',
  ELOOP: 'too many symbolic links',
};

/**
 * Reads a manifest in the given format. Per-entry trouble is in `problems`; a manifest
 * that cannot be used at all throws ManifestReadError with a one-line reason (file
 * errors included, so callers only catch one kind). An abort is rethrown as is.
 */
export async function readManifest(
  path: string,
  format: ManifestFormat,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<Manifest> {
  try {
    return await PARSERS[format](path, options);
  } catch (error) {
    if (error instanceof ManifestReadError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== undefined && code in FS_ERRORS)
      throw new ManifestReadError(`cannot read it: ${FS_ERRORS[code]}`, { cause: error });
    if (code !== undefined && code !== 'ABORT_ERR')
      throw new ManifestReadError(`cannot read it: ${code}`, { cause: error });
    throw error;
  }
}

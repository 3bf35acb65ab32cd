import { localPathSchema } from '../model/local-path.js';
import { dirname, isAbsolute, join, posix, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { manifestFormatSchema } from '../manifest/manifest.js';
import {
  hashFile,
  isIgnored,
  ManifestReadError,
  normaliseManifestPath,
  readManifest,
  type ChecksumAlgorithm,
  type Manifest,
  type ManifestEntry,
  type ManifestProblem,
} from '../manifest/index.js';
import { fsPath } from '../model/file-name.js';
import { verifyWal } from '../manifest/wal-ranges.js';
import { drillUser, isPermissionDenied } from '../model/permission.js';
import type { BackupSet, RestoredFile } from '../model/restore.js';
import { CheckBrokenError, type Check, type CheckContext } from './check.js';
import { resultFromFindings, type CheckResult, type Finding } from '../model/check-result.js';
import { listFindings, plural } from '../model/describe.js';
import { defineCheckKind } from './check-kind.js';

/** Where the expected checksums are. */
export const manifestCheckConfigSchema = z
  .strictObject({
    format: manifestFormatSchema.default('sha256sum'),
    path: localPathSchema.describe(
      "Relative: inside the set (e.g. SHA256SUMS). Absolute or with {set}: anywhere, e.g. '{set}.sha256' beside the set.",
    ),
    wal: z
      .enum(['in-backup', 'archived'])
      .optional()
      .describe(
        "backup_manifest only. in-backup (default, as pg_verifybackup): the WAL the manifest's WAL-Ranges need must be in the restored pg_wal/ and its records whole (page headers, prev-links, CRCs), or the backup would not start. archived: the backup was taken with -X none and its WAL is kept by WAL archiving; it is not looked for.",
      ),
  })
  .describe('Verify every restored file against a manifest of checksums.');

export type ManifestCheckConfig = z.output<typeof manifestCheckConfigSchema>;

/** Where a drill's manifest is, once `{set}` and relative paths are resolved. */
export type ManifestLocation =
  | {
      ok: true;
      /** How findings and details name it: the path as given relative to the set, or the local path. */
      display: string;
      /** The local file to read. */
      file: string;
      /** Its path within the restored set when it lies inside the set: not an extra file, not counted. */
      inSet: string | null;
      where: 'restored set' | 'local file';
    }
  | { ok: false; display: string; reason: string };

const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * Resolves `checks.manifest.path` for one run: relative → inside the restored set (read
 * from scratch); absolute → that file; `{set}` → replaced with the set's path first.
 */
export function locateManifest(
  config: Pick<ManifestCheckConfig, 'path'>,
  set: BackupSet,
  scratchDir: string,
): ManifestLocation {
  const written = config.path;
  const local = (file: string): ManifestLocation => {
    const within = URL_LIKE.test(set.path) ? '' : relative(resolve(set.path), file);
    const inSet =
      within !== '' && !within.startsWith('..') && !isAbsolute(within)
        ? within.split(sep).join('/')
        : null;
    return { ok: true, display: file, file, inSet, where: 'local file' };
  };
  if (written.includes('{set}')) {
    const resolved = written.replaceAll('{set}', set.path);
    if (URL_LIKE.test(resolved)) {
      return {
        ok: false,
        display: resolved,
        reason: `it is not a local file ({set} is ${set.path}); keep the manifest in the set and give its path relative to the set`,
      };
    }
    return local(resolve(resolved));
  }
  if (isAbsolute(written)) return local(resolve(written));
  const normalised = normaliseManifestPath(written);
  if (!normalised.ok)
    return {
      ok: false,
      display: written,
      reason: `a relative manifest path must name a file inside the set (${normalised.message})`,
    };
  return {
    ok: true,
    display: normalised.path,
    file: join(scratchDir, ...normalised.path.split('/')),
    inSet: normalised.path,
    where: 'restored set',
  };
}

/** A manifest read for one run, or why it could not be. */
export type LoadedManifest =
  | { ok: true; location: Extract<ManifestLocation, { ok: true }>; manifest: Manifest }
  | { ok: false; location: ManifestLocation; reason: string };

/**
 * Reads the drill's manifest once per run and shares it between the manifest and
 * extraFiles checks (keyed by the run's CheckContext, so nothing outlives the run).
 */
export class ManifestLoader {
  private readonly loaded = new WeakMap<CheckContext, Promise<LoadedManifest>>();

  constructor(readonly config: ManifestCheckConfig) {}

  load(context: CheckContext): Promise<LoadedManifest> {
    let loading = this.loaded.get(context);
    if (loading === undefined) {
      loading = this.read(context);
      this.loaded.set(context, loading);
    }
    return loading;
  }

  private async read(context: CheckContext): Promise<LoadedManifest> {
    const location = locateManifest(this.config, context.set, context.scratchDir);
    if (!location.ok) return { ok: false, location, reason: location.reason };
    try {
      return {
        ok: true,
        location,
        manifest: await readManifest(location.file, this.config.format, { signal: context.signal }),
      };
    } catch (error) {
      if (!(error instanceof ManifestReadError)) throw error;
      // A manifest kept outside the set that the drill's user may not read says nothing of
      // the backup: the check judges nothing (error), it does not fail the backup.
      if (location.where !== 'restored set' && isPermissionDenied(error.cause))
        throw new CheckBrokenError(
          `manifest ${location.display} cannot be read: permission denied to ${drillUser()}; run the drill as a user who can read it`,
        );
      // Only a file that could not be opened needs saying where it was looked for.
      const unopened = (error.cause as NodeJS.ErrnoException | undefined)?.code !== undefined;
      const where =
        unopened && location.where === 'restored set'
          ? ` in the restored set${context.sampled ? ' (a sample must include the manifest)' : ''}`
          : '';
      return { ok: false, location, reason: `${error.message}${where}` };
    }
  }
}

/** The restored files a drill's checks count: all of them but the manifest itself. */
export function dataFiles(
  files: readonly RestoredFile[],
  manifestsInSet: ReadonlySet<string>,
): readonly RestoredFile[] {
  return manifestsInSet.size === 0 ? files : files.filter((file) => !manifestsInSet.has(file.path));
}

/** Manifests as configured: the drill's `checks.manifest` and any other a check reads (`records.manifest`). */
export type ManifestPaths = readonly Pick<ManifestCheckConfig, 'path'>[];

/** The manifest's path inside the restored set for this run, if it lies there (without reading it). */
export function manifestPathInSet(
  config: Pick<ManifestCheckConfig, 'path'> | undefined,
  set: BackupSet,
): string | null {
  if (config === undefined) return null;
  // Where it is in scratch does not matter for where it is in the set.
  const location = locateManifest(config, set, '');
  return location.ok ? location.inSet : null;
}

/** The paths inside the set of the manifests that lie there: metadata of the backup, not its data. */
export function manifestPathsInSet(manifests: ManifestPaths, set: BackupSet): ReadonlySet<string> {
  const paths = new Set<string>();
  for (const manifest of manifests) {
    const inSet = manifestPathInSet(manifest, set);
    if (inSet !== null) paths.add(inSet);
  }
  return paths;
}

/** True when the manifest entry at `path` was meant to be restored: the sample names it or a folder above it. */
export function isChosen(sample: ReadonlySet<string> | null, path: string): boolean {
  if (sample === null || sample.has(path)) return true;
  for (let slash = path.lastIndexOf('/'); slash > 0; slash = path.lastIndexOf('/', slash - 1)) {
    const folder = path.slice(0, slash);
    if (sample.has(folder) || sample.has(`${folder}/`)) return true;
  }
  return false;
}

/** Runs `fn` over `items` with at most `limit` at once; rethrows the first failure once all have stopped. */
async function forEachConcurrent<T>(
  items: Iterable<T>,
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  const iterator = items[Symbol.iterator]();
  const worker = async (): Promise<void> => {
    for (let next = iterator.next(); next.done !== true; next = iterator.next())
      await fn(next.value);
  };
  const results = await Promise.allSettled(Array.from({ length: Math.max(1, limit) }, worker));
  const failure = results.find(
    (result): result is PromiseRejectedResult => result.status === 'rejected',
  );
  if (failure) throw failure.reason;
}

/** CRC-32C hex may come in either byte order (pg writes the host's); SHA digests must match exactly. */
function digestMatches(algorithm: ChecksumAlgorithm, expected: string, actual: string): boolean {
  if (expected === actual) return true;
  return algorithm === 'crc32c' && expected === (actual.match(/../g) ?? []).reverse().join('');
}

function expectedOf(entry: ManifestEntry): Record<string, unknown> {
  return {
    ...(entry.size !== undefined ? { size: entry.size } : {}),
    ...(entry.sha256 !== undefined ? { sha256: entry.sha256 } : {}),
    ...(entry.algorithm !== undefined ? { [entry.algorithm]: entry.digest } : {}),
  };
}

type Comparison = { kind: 'verified' | 'size-only' } | { kind: 'finding'; finding: Finding };

/** Compares one restored file with its manifest entry, hashing it again only when the restore's SHA-256 cannot answer. */
async function compareFile(
  file: RestoredFile,
  entry: ManifestEntry,
  context: CheckContext,
): Promise<Comparison> {
  const expected = expectedOf(entry);
  if (entry.size !== undefined && file.size !== entry.size) {
    const problem = file.size < entry.size ? 'truncated' : 'changed';
    return {
      kind: 'finding',
      finding: { item: file.path, problem, expected, actual: { size: file.size } },
    };
  }
  const recorded =
    typeof file.sha256 === 'string' && file.sha256.length > 0
      ? file.sha256.toLowerCase()
      : undefined;
  const algorithms: ChecksumAlgorithm[] = [];
  if (entry.sha256 !== undefined && recorded === undefined) algorithms.push('sha256');
  if (entry.algorithm !== undefined && entry.digest !== undefined) algorithms.push(entry.algorithm);
  if (entry.sha256 === undefined && algorithms.length === 0) return { kind: 'size-only' };

  let actual: { size: number; digests: Partial<Record<ChecksumAlgorithm, string>> } = {
    size: file.size,
    digests: { sha256: recorded },
  };
  if (algorithms.length > 0) {
    try {
      const hashed = await hashFile(fsPath(context.scratchDir, file.path), algorithms, {
        signal: context.signal,
      });
      actual = { size: hashed.size, digests: { sha256: recorded, ...hashed.digests } };
    } catch (error) {
      if (context.signal?.aborted) throw error;
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      return {
        kind: 'finding',
        finding: {
          item: file.path,
          problem: 'unreadable',
          expected,
          actual: { error: `cannot read the restored file: ${reason}` },
        },
      };
    }
  }
  const shaDiffers = entry.sha256 !== undefined && actual.digests.sha256 !== entry.sha256;
  const otherDiffers =
    entry.algorithm !== undefined &&
    !digestMatches(entry.algorithm, entry.digest!, actual.digests[entry.algorithm]!);
  if (!shaDiffers && !otherDiffers) return { kind: 'verified' };
  const problem = entry.size !== undefined && actual.size < entry.size ? 'truncated' : 'changed';
  const found: Record<string, unknown> = { size: actual.size };
  if (entry.sha256 !== undefined) found.sha256 = actual.digests.sha256;
  if (entry.algorithm !== undefined) found[entry.algorithm] = actual.digests[entry.algorithm];
  return { kind: 'finding', finding: { item: file.path, problem, expected, actual: found } };
}

const PROBLEM_NAMES = {
  malformed: 'malformed-line',
  unsafe: 'unsafe-entry',
  duplicate: 'duplicate-entry',
  'manifest-checksum': 'manifest-checksum',
} as const;

/** A manifest's own problems as findings: unsafe and duplicate entries by path, malformed lines by `file:line`, its checksum by file. */
function problemFindings(manifest: Manifest, display: string): Finding[] {
  const itemOf = (problem: ManifestProblem): string => {
    if (problem.problem === 'manifest-checksum') return display;
    return problem.problem === 'malformed' && problem.line !== null
      ? `${display}:${problem.line}`
      : problem.item;
  };
  return manifest.problems.map((problem) => ({
    item: itemOf(problem),
    problem: PROBLEM_NAMES[problem.problem],
    ...(problem.problem === 'unsafe' ? { expected: 'a path relative to the set, without ..' } : {}),
    actual: {
      ...(problem.line !== null ? { line: problem.line } : {}),
      ...(problem.problem === 'malformed' ? { text: problem.item } : {}),
      reason: problem.message,
    },
  }));
}

/** A result for a manifest that cannot be used at all: a finding about the backup, not a crash. */
function unusableManifestResult(
  name: string,
  loaded: Extract<LoadedManifest, { ok: false }>,
  format: string,
  detail: string,
): CheckResult {
  return {
    name,
    verdict: 'failed',
    expected: { manifest: loaded.location.display, format },
    actual: { readable: false, reason: loaded.reason },
    detail,
    findings: [
      { item: loaded.location.display, problem: 'unusable-manifest', actual: loaded.reason },
    ],
    findingsTotal: 1,
  };
}

/**
 * The restored file a link at `path` leads to inside the set, following targets through further
 * links (at most 40, as the kernel does): relative ones, and absolute ones under the set's own
 * path (a folder set, linked by its full name). Null when a target leaves the set, ends at
 * nothing restored or loops.
 */
function fileBehindLink(
  path: string,
  links: ReadonlyMap<string, string>,
  files: ReadonlyMap<string, RestoredFile>,
  setPath: string,
): RestoredFile | null {
  const setRoot = `${setPath.replace(/\/+$/, '')}/`;
  let at = path;
  for (let hops = 0; hops < 40; hops += 1) {
    const target = links.get(at);
    if (target === undefined) return files.get(at) ?? null;
    if (posix.isAbsolute(target)) {
      if (!target.startsWith(setRoot)) return null;
      at = posix.normalize(target.slice(setRoot.length));
    } else {
      at = posix.normalize(posix.join(posix.dirname(at), target));
    }
    if (at === '..' || at.startsWith('../')) return null;
  }
  return null;
}

/**
 * `manifest`: every file the manifest lists (within the sample, when sampling) was
 * restored with the expected size and checksum. Findings name each missing, changed
 * (one flipped byte), truncated or unreadable file, and each unsafe or malformed
 * manifest entry; for a backup_manifest, each WAL segment missing and each WAL range
 * damaged. The manifest file itself is not compared.
 */
export class ManifestCheck implements Check {
  readonly name = 'manifest';

  constructor(
    private readonly config: ManifestCheckConfig,
    private readonly loader: ManifestLoader,
    /** `tables: false` when the tables check owns the row counts, so they are judged in one place. */
    private readonly options: { hashConcurrency?: number | undefined; tables?: boolean } = {},
  ) {}

  async run(context: CheckContext): Promise<CheckResult[]> {
    const loaded = await this.loader.load(context);
    if (!loaded.ok) {
      return [
        unusableManifestResult(
          this.name,
          loaded,
          this.config.format,
          `manifest ${loaded.location.display} cannot be used: ${loaded.reason}`,
        ),
      ];
    }
    const { manifest, location } = loaded;
    // Sampled without the chosen paths: only what was restored can be judged.
    const knowsScope = !context.sampled || context.sample !== null;
    const sample = context.sampled ? context.sample : null;
    const inScope = (path: string): boolean =>
      path !== location.inSet && !isIgnored(manifest, path) && isChosen(sample, path);

    const fileFindings: Finding[] = [];
    const counts = { verified: 0, missing: 0, changed: 0, truncated: 0, unreadable: 0 };
    let sizeOnly = 0;
    const restored = new Map(context.outcome.files.map((file) => [file.path, file]));
    const links = new Map((context.outcome.links ?? []).map((link) => [link.path, link.target]));
    // Each listed path with the restored file that holds its content: `sha256sum *` follows
    // links, so a name restored as a link to a file of the set is judged by that file's bytes
    // (read at the file's own path: links are never followed on disk).
    const toCompare: { path: string; file: RestoredFile; entry: ManifestEntry; link?: string }[] =
      [];
    let expectedFiles = 0;
    const missingFindings: Finding[] = [];
    for (const [path, entry] of manifest.files) {
      if (!inScope(path)) continue;
      expectedFiles += 1;
      const file = restored.get(path);
      if (file !== undefined) {
        toCompare.push({ path, file, entry });
        continue;
      }
      if (!knowsScope) continue;
      const link = links.get(path);
      const behind =
        link === undefined ? null : fileBehindLink(path, links, restored, context.set.path);
      if (link !== undefined && behind !== null) {
        toCompare.push({ path, file: behind, entry, link });
        continue;
      }
      counts.missing += 1;
      missingFindings.push({
        item: path,
        problem: link === undefined ? 'missing' : 'link-not-file',
        expected: expectedOf(entry),
        actual: link === undefined ? null : { link },
      });
    }
    let throughLinks = 0;
    await forEachConcurrent(toCompare, this.options.hashConcurrency ?? 4, async (listed) => {
      context.signal?.throwIfAborted();
      const comparison = await compareFile(listed.file, listed.entry, context);
      if (comparison.kind === 'finding') {
        const { finding } = comparison;
        fileFindings.push(
          listed.link === undefined
            ? finding
            : {
                ...finding,
                item: listed.path,
                actual: { ...(finding.actual as object), link: listed.link },
              },
        );
        counts[finding.problem as 'changed' | 'truncated' | 'unreadable'] += 1;
      } else {
        counts.verified += 1;
        if (listed.link !== undefined) throughLinks += 1;
        if (comparison.kind === 'size-only') sizeOnly += 1;
      }
    });
    // Hashing finishes in any order; evidence should not. What is missing follows, in manifest order.
    fileFindings.sort((a, b) => (a.item < b.item ? -1 : a.item > b.item ? 1 : 0));
    fileFindings.push(...missingFindings);

    const linkCounts = compareLinks(manifest, context, inScope, knowsScope, fileFindings);

    // pg_wal/ is left out of the file comparison (as pg_verifybackup does): the WAL the backup
    // needs is judged by its WAL-Ranges instead, when the whole backup was restored.
    const walChecked =
      this.config.wal !== 'archived' && (manifest.walRanges?.length ?? 0) > 0 && !context.sampled;
    const wal =
      walChecked && manifest.walRanges
        ? await verifyWal(
            location.where === 'restored set' ? dirname(location.file) : context.scratchDir,
            manifest.walRanges,
            { signal: context.signal },
          )
        : null;
    const walFindings = wal?.findings ?? [];
    fileFindings.push(...walFindings);
    const walCount = (problem: string): number =>
      walFindings.filter((finding) => finding.problem === problem).length;

    const tableFindings: Finding[] = [];
    const tables =
      this.options.tables === false
        ? null
        : compareTables(manifest, context, sample, tableFindings);

    const findings = [
      ...problemFindings(manifest, location.display),
      ...fileFindings,
      ...tableFindings,
    ];
    // A manifest that lists nothing verifies nothing: that is a broken backup, not a pass.
    const empty =
      manifest.files.size === 0 && manifest.problemsTotal === 0 && !manifest.tables?.size;
    if (empty)
      findings.push({
        item: location.display,
        problem: 'empty-manifest',
        expected: 'at least one file',
        actual: 'no files listed',
      });
    const problemCount = manifest.problemsTotal + (empty ? 1 : 0);
    // Problems beyond the manifest's own cap are counted, not listed.
    const total = findings.length - manifest.problems.length + manifest.problemsTotal;

    const expected = {
      manifest: location.display,
      format: manifest.format,
      files: expectedFiles,
      ...(linkCounts ? { links: linkCounts.expected } : {}),
      ...(context.sampled ? { sampled: true } : {}),
      ...(tables ? { tables: tables.expected } : {}),
    };
    const actual = {
      verified: counts.verified,
      missing: counts.missing,
      changed: counts.changed,
      truncated: counts.truncated,
      ...(counts.unreadable > 0 ? { unreadable: counts.unreadable } : {}),
      ...(sizeOnly > 0 ? { verifiedBySizeOnly: sizeOnly } : {}),
      ...(throughLinks > 0 ? { verifiedThroughLinks: throughLinks } : {}),
      ...(problemCount > 0 ? { manifestProblems: problemCount } : {}),
      ...(linkCounts ? { linksVerified: linkCounts.verified } : {}),
      ...(tables ? { tablesVerified: tables.verified } : {}),
      ...(!knowsScope ? { missingNotChecked: 'sampled without the list of chosen paths' } : {}),
      ...(walCount('missing-wal') > 0 ? { missingWalSegments: walCount('missing-wal') } : {}),
      ...(walCount('damaged-wal') > 0 ? { damagedWalRanges: walCount('damaged-wal') } : {}),
      ...(wal ? { walRecordsVerified: wal.records } : {}),
    };
    const scope = context.sampled ? 'sampled ' : '';
    const result = resultFromFindings(this.name, findings, {
      expected,
      actual,
      passDetail: `all ${plural(counts.verified, `${scope}file`)}${linkCounts ? ` and ${plural(linkCounts.verified, 'link')}` : ''} match ${location.display} (${manifest.format})${sizeOnly > 0 ? `, ${sizeOnly} by size only` : ''}${
        tables ? `; ${plural(tables.verified, 'table')} match` : ''
      }${wal ? `; the WAL its WAL-Ranges need is there, ${plural(wal.records, 'record')} whole` : ''}`,
      failDetail: () =>
        `${plural(total, 'problem')} with ${location.display}: ${listFindings(findings)}`,
    });
    if (result.findingsTotal !== undefined) result.findingsTotal = total;
    return [result];
  }
}

/**
 * Symbolic links against the manifest's, when it lists any: a link's content is its
 * target string, so a link missing, restored as something else, or with another target
 * is a finding. Null when the manifest lists no links.
 */
function compareLinks(
  manifest: Manifest,
  context: CheckContext,
  inScope: (path: string) => boolean,
  knowsScope: boolean,
  findings: Finding[],
): { expected: number; verified: number } | null {
  if (manifest.links === undefined) return null;
  const restored = new Map((context.outcome.links ?? []).map((link) => [link.path, link.target]));
  let expected = 0;
  let verified = 0;
  for (const [path, { target }] of manifest.links) {
    if (!inScope(path)) continue;
    expected += 1;
    const actual = restored.get(path);
    if (actual === target) verified += 1;
    else if (actual !== undefined)
      findings.push({
        item: path,
        problem: 'changed',
        expected: { target },
        actual: { target: actual },
      });
    else if (knowsScope)
      findings.push({ item: path, problem: 'missing', expected: { target }, actual: null });
  }
  return { expected, verified };
}

/** Row counts against the manifest's tables, when it has any; null otherwise. */
function compareTables(
  manifest: Manifest,
  context: CheckContext,
  sample: ReadonlySet<string> | null,
  findings: Finding[],
): { expected: number; verified: number } | null {
  if (manifest.tables === undefined) return null;
  const restored = new Map((context.outcome.tables ?? []).map((table) => [table.name, table.rows]));
  let expected = 0;
  let verified = 0;
  for (const [name, rows] of manifest.tables) {
    if (sample !== null && !sample.has(name)) continue;
    expected += 1;
    const actual = restored.get(name);
    if (actual === undefined)
      findings.push({
        item: `table ${name}`,
        problem: 'missing',
        expected: { rows },
        actual: null,
      });
    else if (actual !== rows)
      findings.push({
        item: `table ${name}`,
        problem: 'rows-differ',
        expected: { rows },
        actual: { rows: actual },
      });
    else verified += 1;
  }
  return { expected, verified };
}

/** `checks.manifest`; row counts are left to `tables` when both are configured, so they are judged once. */
export const manifestCheckKind = defineCheckKind({
  kind: 'manifest',
  section: 'checks',
  configSchema: manifestCheckConfigSchema.optional(),
  phase: 'data',
  needs: () => ['manifest'],
  manifests: (config) => [config],
  create: (config, build) =>
    build.manifest === null
      ? []
      : [new ManifestCheck(config, build.manifest, { tables: !build.configured('tables') })],
});

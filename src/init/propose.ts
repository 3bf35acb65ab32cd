import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { formatBytes } from '../model/primitives.js';
import { dumpFormatOfHead, type DumpFormat } from '../sources/postgres/dump-format.js';
import { isTarArchiveName } from '../sources/tar-source.js';

/**
 * `restore-drill init`: looks at a backup location and proposes a drill for it. Only
 * reads: listings, the first bytes of files, the headers at the start of an archive.
 */

/** A drill proposed for one location, as plain config values (validated by the caller). */
export interface DrillProposal {
  /** The location as the user gave it. */
  location: string;
  /** A drill name derived from the location, unique within one init. */
  name: string;
  /** What was found, for the user and as a comment above the drill. */
  found: string;
  source: Record<string, unknown>;
  sample?: Record<string, unknown>;
  checks: Record<string, unknown>;
  targets?: Record<string, unknown>;
  /** Environment variables the drill needs when it runs (its `${env:}` references, the AWS chain's). */
  env: string[];
  /** Notes for the user, written as comments above the drill. */
  notes: string[];
}

/** A location init cannot propose a drill for; the message names it. */
export class ProposalError extends Error {
  override readonly name = 'ProposalError';
}

/** Sets above this size are sampled (rotating through the set over 30 days) instead of restored whole every day. */
const WHOLE_SET_LIMIT = 5 * 1024 ** 3;
/** How much of an archive (compressed) is read looking for a manifest among its first members. */
const ARCHIVE_SCAN_BYTES = 64 * 1024 ** 2;
/** Manifest files init recognises inside a set, in order of preference. */
const MANIFEST_NAMES: readonly [string, 'sha256sum' | 'backup_manifest' | 'restore-drill'][] = [
  ['SHA256SUMS', 'sha256sum'],
  ['SHA256SUMS.txt', 'sha256sum'],
  ['sha256sums.txt', 'sha256sum'],
  ['backup_manifest', 'backup_manifest'],
  ['manifest.json', 'restore-drill'],
];
/** Beside a set (`{set}` + suffix): a checksum list or restore-drill's own manifest. */
const SIDECAR_SUFFIXES: readonly [string, 'sha256sum' | 'restore-drill'][] = [
  ['.sha256', 'sha256sum'],
  ['.sha256sum', 'sha256sum'],
  ['.manifest.json', 'restore-drill'],
];

/** A file or folder in a location, with what init needs to know of it. */
interface Entry {
  name: string;
  abs: string;
  isDirectory: boolean;
  size: number;
  mtimeMs: number;
}

/** Proposes a drill for a local path (a folder of sets, of archives, of dumps, a restic repository, one archive or dump). */
export async function proposeLocal(location: string, absolute: string): Promise<DrillProposal> {
  let info;
  try {
    info = await stat(absolute);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ProposalError(
      `${location}: ${code === 'ENOENT' ? 'no such file or folder' : code === 'EACCES' ? 'permission denied' : (error as Error).message}`,
    );
  }
  if (info.isFile()) return proposeSingleFile(location, absolute);
  if (!info.isDirectory()) throw new ProposalError(`${location}: not a file or folder`);
  if (await isResticRepository(absolute)) return proposeRestic(location, absolute);
  if (await exists(path.join(absolute, 'toc.dat')))
    return proposeDumps(location, absolute, [{ ...(await entryOf(absolute)), kind: 'directory' }]);

  const entries = await listEntries(absolute, location);
  const archives = entries.filter((entry) => !entry.isDirectory && isTarArchiveName(entry.name));
  if (archives.length > 0) return proposeArchives(location, absolute, archives, entries);
  const dumps: (Entry & { kind: DumpFormat })[] = [];
  for (const entry of entries) {
    const kind = await dumpFormatOf(entry);
    if (kind) dumps.push({ ...entry, kind });
  }
  if (dumps.length > 0) return proposeDumps(location, absolute, dumps);
  const folders = entries.filter((entry) => entry.isDirectory && !entry.name.startsWith('.'));
  if (folders.length > 0) return proposeFolders(location, absolute, folders, entries);
  if (entries.some((entry) => !entry.isDirectory)) return proposeOneFolder(location, absolute);
  throw new ProposalError(`${location}: empty folder, no backups to drill`);
}

async function proposeSingleFile(location: string, absolute: string): Promise<DrillProposal> {
  const entry = await entryOf(absolute);
  if (isTarArchiveName(entry.name)) {
    const folder = path.dirname(absolute);
    return proposeArchives(
      location,
      folder,
      [entry],
      await listEntries(folder, location),
      absolute,
    );
  }
  const kind = await dumpFormatOf(entry);
  if (kind) return proposeDumps(location, path.dirname(absolute), [{ ...entry, kind }], absolute);
  throw new ProposalError(
    `${location}: not a backup init recognises (expected a .tar, .tar.gz or .tgz archive, a pg_dump file, or a folder)`,
  );
}

async function proposeArchives(
  location: string,
  folder: string,
  archives: Entry[],
  siblings: Entry[],
  onePath?: string,
): Promise<DrillProposal> {
  const newest = newestOf(archives);
  const notes: string[] = [];
  const checks: Record<string, unknown> = {};
  const sidecar = findSidecar(newest, siblings);
  if (sidecar) checks.manifest = sidecar;
  else {
    const inside = await manifestInsideArchive(newest.abs);
    if (inside) checks.manifest = { format: inside.format, path: inside.path };
    else
      notes.push(
        `No manifest found beside or at the start of ${newest.name}: add checks.manifest to compare checksums.`,
      );
  }
  checks.files = { min: 1 };
  return {
    location,
    name: drillName(onePath ? stripArchiveExtension(newest.name) : folder),
    found: describeSets(archives, 'archive'),
    source: { kind: 'tar', path: onePath ?? globFor(folder, archives), select: 'newest' },
    ...(newest.size > WHOLE_SET_LIMIT ? { sample: { cover: '30d' } } : {}),
    checks,
    ...targetsFor(archives),
    env: [],
    notes,
  };
}

async function proposeDumps(
  location: string,
  folder: string,
  dumps: (Entry & { kind: DumpFormat })[],
  onePath?: string,
): Promise<DrillProposal> {
  const newest = newestOf(dumps);
  const needsServer = dumps.some((dump) => dump.kind !== 'plain');
  const checks: Record<string, unknown> = {};
  const notes: string[] = [];
  if (await exists(`${newest.abs}.manifest.json`)) {
    checks.manifest = { format: 'restore-drill', path: '{set}.manifest.json' };
    checks.tables = { from: 'manifest', tolerance: '0%' };
  } else
    notes.push(
      'Write a manifest at backup time (restore-drill manifest --database URL --out {set}.manifest.json) to compare every table.',
    );
  const env = needsServer ? ['PGUSER', 'PGPASSWORD', 'PGHOST', 'PGPORT'] : [];
  if (needsServer)
    notes.push(
      'pg_restore needs a scratch PostgreSQL server (a user with CREATEDB); each run restores into a fresh database and drops it.',
    );
  else
    notes.push('Plain SQL dumps are loaded into an embedded PGlite in scratch: no server needed.');
  const single = dumps.length === 1 && dumps[0]?.kind === 'directory' && !onePath;
  return {
    location,
    name: drillName(onePath ? newest.name.replace(/\.[^.]*$/, '') : folder),
    found: describeSets(dumps, 'pg_dump'),
    source: {
      kind: 'postgres',
      path: onePath ?? (single ? folder : globFor(folder, dumps)),
      select: 'newest',
      ...(needsServer
        ? {
            scratchServer: {
              url: 'postgres://${env:PGUSER}:${env:PGPASSWORD}@${env:PGHOST}:${env:PGPORT}/postgres',
            },
          }
        : {}),
    },
    checks,
    ...targetsFor(dumps),
    env,
    notes,
  };
}

async function proposeFolders(
  location: string,
  folder: string,
  sets: Entry[],
  siblings: Entry[],
): Promise<DrillProposal> {
  const newest = newestOf(sets);
  const checks: Record<string, unknown> = {};
  const notes: string[] = [];
  const manifest = findSidecar(newest, siblings) ?? (await manifestInFolder(newest.abs));
  if (manifest) {
    checks.manifest = manifest;
    checks.extraFiles = 'warn';
  } else
    notes.push(
      `No manifest found in ${newest.name}: write one at backup time (restore-drill manifest SET --out SET.manifest.json) to compare checksums.`,
    );
  checks.files = { min: 1 };
  const size = await folderSize(newest.abs);
  return {
    location,
    name: drillName(folder),
    found: `${describeSets(sets, 'set folder').replace(/ \(.*\)$/, '')}, newest ${newest.name} (${formatBytes(size)})`,
    source: { kind: 'directory', path: path.join(folder, '*'), select: 'newest' },
    ...(size > WHOLE_SET_LIMIT ? { sample: { cover: '30d' } } : {}),
    checks,
    ...targetsFor(sets),
    env: [],
    notes,
  };
}

async function proposeOneFolder(location: string, folder: string): Promise<DrillProposal> {
  const checks: Record<string, unknown> = {};
  const notes: string[] = [];
  const manifest = await manifestInFolder(folder);
  if (manifest) checks.manifest = manifest;
  else notes.push('No manifest found in the folder: add checks.manifest to compare checksums.');
  checks.files = { min: 1 };
  const size = await folderSize(folder);
  return {
    location,
    name: drillName(folder),
    found: `one folder of files (${formatBytes(size)}), restored whole as one set`,
    source: { kind: 'directory', path: folder },
    ...(size > WHOLE_SET_LIMIT ? { sample: { cover: '30d' } } : {}),
    checks,
    env: [],
    notes,
  };
}

function proposeRestic(location: string, repository: string): DrillProposal {
  return {
    location,
    name: drillName(repository),
    found: 'a restic repository',
    source: {
      kind: 'restic',
      repository,
      password: '${env:RESTIC_PASSWORD}',
      select: 'latest',
      check: { readDataSubset: '5%' },
    },
    // A tenth of the newest snapshot's files (at most 5 GB) a day; restic checks 5% of the pack data too.
    sample: { size: '10%', bytes: '5GB' },
    checks: { files: { min: 1 } },
    env: ['RESTIC_PASSWORD'],
    notes: [
      "Each run restores a seeded 10% sample of the newest snapshot's files (at most 5 GB) and runs restic's own check on 5% of the pack data.",
    ],
  };
}

/** A restic repository on disk: its `config` file beside the `keys`, `data` and `snapshots` folders. */
async function isResticRepository(folder: string): Promise<boolean> {
  const [config, keys, data] = await Promise.all(
    ['config', 'keys', 'data'].map((name) => stat(path.join(folder, name)).catch(() => null)),
  );
  return Boolean(config?.isFile() && keys?.isDirectory() && data?.isDirectory());
}

async function listEntries(folder: string, location: string): Promise<Entry[]> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (error) {
    throw new ProposalError(`${location}: cannot list: ${(error as Error).message}`);
  }
  const entries = await Promise.all(
    names.map((name) => entryOf(path.join(folder, name)).catch(() => null)),
  );
  return entries.filter((entry): entry is Entry => entry !== null);
}

async function entryOf(abs: string): Promise<Entry> {
  const info = await stat(abs);
  return {
    name: path.basename(abs),
    abs,
    isDirectory: info.isDirectory(),
    size: info.size,
    mtimeMs: info.mtimeMs,
  };
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

function stripArchiveExtension(name: string): string {
  return name.replace(/\.(tar|tar\.gz|tgz)$/, '');
}

/** What kind of pg_dump output an entry is, from its first bytes; null when it is none. */
async function dumpFormatOf(entry: Entry): Promise<DumpFormat | null> {
  if (entry.isDirectory)
    return (await exists(path.join(entry.abs, 'toc.dat'))) ? 'directory' : null;
  const head = await readHead(entry.abs, 4096);
  const format = dumpFormatOfHead(head);
  // A tar of files is a tar set; pg_dump -Ft writes its toc.dat first.
  if (format === 'tar' && !head.toString('latin1').includes('toc.dat')) return null;
  return format;
}

async function readHead(file: string, bytes: number): Promise<Buffer> {
  const handle = await open(file, 'r').catch(() => null);
  if (!handle) return Buffer.alloc(0);
  try {
    const buffer = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function newestOf<T extends Entry>(entries: readonly T[]): T {
  return entries.reduce((newest, entry) => (entry.mtimeMs > newest.mtimeMs ? entry : newest));
}

/** `DIR/*.tar.gz` when every set shares an extension (sidecars and strays stay out), else `DIR/*`. */
function globFor(folder: string, sets: readonly Entry[]): string {
  const extension = (name: string): string => /(\.tar\.gz|\.[A-Za-z0-9]+)$/.exec(name)?.[1] ?? '';
  const extensions = new Set(sets.map((set) => extension(set.name)));
  const [only] = extensions;
  return path.join(folder, extensions.size === 1 && only ? `*${only}` : '*');
}

/** A checksum list or manifest beside the newest set (`{set}.sha256`…), as a manifest check. */
function findSidecar(
  newest: Entry,
  siblings: readonly Entry[],
): Record<string, unknown> | undefined {
  const names = new Set(siblings.map((sibling) => sibling.name));
  for (const [suffix, format] of SIDECAR_SUFFIXES)
    if (names.has(`${newest.name}${suffix}`)) return { format, path: `{set}${suffix}` };
  return undefined;
}

async function manifestInFolder(folder: string): Promise<Record<string, unknown> | undefined> {
  for (const [name, format] of MANIFEST_NAMES)
    if (await exists(path.join(folder, name))) return { format, path: name };
  return undefined;
}

/**
 * A manifest among the archive's members, read from its start within a budget (a manifest
 * is usually written first or beside the data; reading a whole large archive is a drill's job).
 */
async function manifestInsideArchive(
  archive: string,
): Promise<{ format: string; path: string } | undefined> {
  const { extract } = await import('tar-stream');
  const wanted = new Map(MANIFEST_NAMES.map(([name, format]) => [name, format]));
  const input = createReadStream(archive, { end: ARCHIVE_SCAN_BYTES - 1 });
  const gzipped = /\.(tar\.gz|tgz)$/.test(archive);
  const parser = extract();
  return new Promise((resolve) => {
    let found: { format: string; path: string } | undefined;
    const finish = (): void => {
      input.destroy();
      parser.destroy();
      resolve(found);
    };
    parser.on('entry', (header, stream, next) => {
      const name = header.name.replace(/^\.\//, '');
      const format = wanted.get(name);
      if (format && header.type === 'file') {
        found = { format, path: name };
        stream.resume();
        finish();
        return;
      }
      stream.on('end', next);
      stream.resume();
    });
    parser.on('finish', finish);
    parser.on('error', finish);
    // Not on the input's end: the parser may still hold the members read so far. A budget cut
    // ends the gunzip (an error) or the parser (finish or an error) too.
    input.on('error', finish);
    if (gzipped) {
      const gunzip = createGunzip();
      gunzip.on('error', finish);
      input.pipe(gunzip).pipe(parser);
    } else input.pipe(parser);
  });
}

async function folderSize(folder: string): Promise<number> {
  let total = 0;
  const entries = await readdir(folder, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const entry of entries)
    if (entry.isFile())
      total += await stat(path.join(entry.parentPath, entry.name)).then(
        (info) => info.size,
        () => 0,
      );
  return total;
}

function describeSets(sets: readonly Entry[], what: string): string {
  const newest = newestOf(sets);
  const count = `${sets.length} ${what}${sets.length === 1 ? '' : 's'}`;
  return `${count}, newest ${newest.name} (${formatBytes(newest.size)})`;
}

/**
 * Targets from how often sets arrive: the usual gap between the newest sets plus two hours
 * is the data age to accept (rpo); a single set gives nothing to go by.
 */
function targetsFor(sets: readonly Entry[]): { targets?: Record<string, unknown> } {
  const times = sets
    .map((set) => set.mtimeMs)
    .sort((a, b) => b - a)
    .slice(0, 11);
  if (times.length < 2) return {};
  const gaps = times.slice(1).map((time, i) => (times[i] as number) - time);
  gaps.sort((a, b) => a - b);
  const median = gaps[Math.floor(gaps.length / 2)] as number;
  // Sets copied in at once share their mtimes: their gaps say nothing of the schedule.
  if (median < 3_600_000) return {};
  const hours = Math.max(1, Math.ceil(median / 3_600_000) + 2);
  return { targets: { rpo: hours % 24 === 0 ? `${hours / 24}d` : `${hours}h` } };
}

/** A drill name from a path: its last segment, lower-case, with only letters, digits and dashes. */
export function drillName(location: string): string {
  const base = path.basename(location.replace(/\/+$/, '')) || 'backups';
  const name = base
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return name || 'backups';
}

/**
 * Proposes a drill for `s3://bucket/prefix`, listing it with the standard AWS environment
 * (AWS_ACCESS_KEY_ID…, AWS_ENDPOINT_URL for S3-compatible stores, AWS_REGION): folders under
 * the prefix are sets (`layout: prefixes`), else each object is one.
 */
export async function proposeS3(
  location: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<DrillProposal> {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(location);
  if (!match) throw new ProposalError(`${location}: expected s3://bucket/prefix`);
  const [, bucket = '', rawPrefix = ''] = match;
  const prefix = rawPrefix === '' || rawPrefix.endsWith('/') ? rawPrefix : `${rawPrefix}/`;
  const endpointVariable = ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL'].find((name) => env[name]);
  const regionVariable = ['AWS_REGION', 'AWS_DEFAULT_REGION'].find((name) => env[name]);
  const { createS3ObjectStore } = await import('../sources/s3-object-store.js');
  const store = createS3ObjectStore({
    bucket,
    endpoint: endpointVariable ? env[endpointVariable] : undefined,
    region: (regionVariable && env[regionVariable]) || 'us-east-1',
    forcePathStyle: endpointVariable !== undefined,
    timeoutMs: 30_000,
  });
  let page;
  let manifest: Record<string, unknown> | undefined;
  try {
    page = await store.list({ prefix, delimiter: '/' });
    const newestPrefix = [...page.prefixes].sort().at(-1);
    for (const [name, format] of newestPrefix ? MANIFEST_NAMES : []) {
      const found = await store.head(`${newestPrefix}${name}`, {}).then(
        () => true,
        () => false,
      );
      if (found) {
        manifest = { format, path: name };
        break;
      }
    }
  } catch (error) {
    throw new ProposalError(`${location}: cannot list: ${(error as Error).message}`);
  } finally {
    store.destroy();
  }
  const sets = page.prefixes.length > 0 ? page.prefixes : page.objects.map((object) => object.key);
  if (sets.length === 0) throw new ProposalError(`${location}: nothing under this prefix`);
  const layout = page.prefixes.length > 0 ? 'prefixes' : 'objects';
  const newest = [...sets].sort().at(-1) as string;
  const variables = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'];
  if (endpointVariable) variables.push(endpointVariable);
  if (regionVariable) variables.push(regionVariable);
  return {
    location,
    name: drillName(prefix || bucket),
    found: `${sets.length}${page.nextToken ? '+' : ''} ${layout === 'prefixes' ? 'set prefixes' : 'objects'}, latest ${newest}`,
    source: {
      kind: 's3',
      bucket,
      prefix,
      layout,
      ...(endpointVariable
        ? { endpoint: `\${env:${endpointVariable}}`, forcePathStyle: true }
        : {}),
      ...(regionVariable ? { region: `\${env:${regionVariable}}` } : {}),
      select: 'latest',
    },
    ...(layout === 'prefixes' ? { sample: { size: '10%', bytes: '5GB' } } : {}),
    checks: manifest ? { manifest, extraFiles: 'warn', files: { min: 1 } } : { files: { min: 1 } },
    env: variables,
    notes: [
      'Credentials come from the standard AWS chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, or a role).',
      ...(layout === 'prefixes' && !manifest
        ? ['Add checks.manifest (e.g. { path: SHA256SUMS }) if each set carries a checksum list.']
        : []),
    ],
  };
}

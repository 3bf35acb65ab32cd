import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CheckResult } from '../../../src/model/check-result.js';
import type { EvidenceStore, OpenEvidenceStoreOptions } from '../../../src/evidence/open-store.js';
import { openEvidenceStore } from '../../../src/evidence/open-store.js';
import type { RunItem, RunRecord } from '../../../src/evidence/run-record.js';
import { recordRunResult, recordRunStart } from '../../../src/evidence/runs.js';
import { silentLogger } from '../../../src/log/logger.js';
import type { SummaryDrill } from '../../../src/report/drill-summary.js';
import { createAuthenticator } from '../../../src/report/server/auth.js';
import { openReadOnlyStore } from '../../../src/report/server/read-only-store.js';
import type { ServeAuth } from '../../../src/report/server/serve-config.js';
import { startEvidenceServer, type EvidenceServer } from '../../../src/report/server/server.js';
import { makeRecord, startOf } from '../../helpers/run-records.js';
import { createTestDatabase, createTestEmbeddedDir } from '../../helpers/test-database.js';

// Evidence as a reviewer would find it: drills in every state (never run, overdue,
// failing, waived, green), a failed run whose check names the files at fault, a
// cause carrying markup, a run with hundreds of items. Recorded through the real
// recordRunStart / recordRunResult, on PGlite or a real PostgreSQL server.

const DAY = 86_400_000;
const MINUTE = 60_000;

export const TOKEN = 'web-test-token-5f0c7b1e9a2d4c68';
export const BASIC = { user: 'auditor', password: 'correct horse battery staple' };
export const AUTH: ServeAuth = { token: TOKEN, basic: BASIC };

/** A cause that would run script if it ever reached a page as markup. */
export const HOSTILE_CAUSE = `<script>alert("pwned")</script><img src=x onerror=alert(1)> manifest: 1 file changed`;
/** Run ids of two legacy-app passes: a prefix of both is ambiguous. */
export const AMBIGUOUS_IDS = [
  'abcd1111-0000-4000-8000-000000000001',
  'abcd2222-0000-4000-8000-000000000002',
] as const;
export const HOSTILE_ITEM = `uploads/<img src=x onerror=alert(2)>.png`;
/** A file named with bytes that are not UTF-8, a newline and an escape, as evidence records it (docs/file-names.md). */
export const ODD_NAME_ITEM = 'uploads/bad\\xff\\xfe\\n\\x1b[2J.png';

export interface WebFixture {
  now: Date;
  drills: SummaryDrill[];
  runs: { record: RunRecord; items: RunItem[] }[];
  /** The billing database's last run: failed, its manifest check naming two files. */
  failedRun: RunRecord;
  /** A run whose cause and finding carry markup. */
  hostileRun: RunRecord;
  /** A run with 240 items (two pages at the default page size). */
  sampledRun: RunRecord;
}

/** Start of the UTC day `days` before `now`, plus `hour` hours. */
function at(now: Date, days: number, hour: number, minute = 0): string {
  const day = Math.floor(now.getTime() / DAY) * DAY - days * DAY;
  return new Date(day + hour * 3_600_000 + minute * MINUTE).toISOString();
}

/** A stable 64-digit hash for a seed: plausible checksums that are the same on every run. */
function hex(seed: number): string {
  return createHash('sha256').update(String(seed)).digest('hex');
}

interface RunSpec {
  drill: string;
  startedAt: string;
  verdict?: RunRecord['verdict'];
  cause?: string | null;
  restoreMs: number;
  verifyMs: number;
  setPath: string | null;
  setAgeMs?: number;
  files: number;
  bytes: number;
  checks: CheckResult[];
  sample?: RunRecord['sample'];
  targets?: RunRecord['targets'];
  items?: RunItem[];
  host?: string;
  sourceKind?: string;
  runId?: string;
}

function run(spec: RunSpec): { record: RunRecord; items: RunItem[] } {
  const started = Date.parse(spec.startedAt);
  const selectMs = 180 + ((started / 1000) % 90);
  const cleanupMs = 400 + ((started / 1000) % 300);
  const totalMs = selectMs + spec.restoreMs + spec.verifyMs + cleanupMs;
  const setPath = spec.setPath;
  const record = makeRecord({
    ...(spec.runId ? { runId: spec.runId } : {}),
    drill: spec.drill,
    verdict: spec.verdict ?? 'passed',
    cause: spec.cause ?? null,
    startedAt: spec.startedAt,
    finishedAt: new Date(started + totalMs).toISOString(),
    sourceKind: spec.sourceKind ?? 'tar',
    set:
      setPath === null
        ? null
        : {
            id: setPath.split('/').pop() as string,
            path: setPath,
            size: spec.bytes + 4096,
            mtime: new Date(started - (spec.setAgeMs ?? 3 * 3_600_000)).toISOString(),
            hash: null,
          },
    sample: spec.sample ?? null,
    restored: { files: spec.files, bytes: spec.bytes },
    itemsDigest: hex(started),
    checks: spec.checks,
    timings: { selectMs, restoreMs: spec.restoreMs, verifyMs: spec.verifyMs, cleanupMs, totalMs },
    commands: [],
    targets: spec.targets ?? { rtoMs: null, rpoMs: null },
    host: spec.host ?? 'drill-runner-01',
    configHash: hex(spec.drill.length),
    scratchDir: `/var/tmp/restore-drill/${spec.drill}-${started}`,
  });
  return { record, items: spec.items ?? [] };
}

const passedCheck = (
  name: string,
  expected: unknown,
  actual: unknown,
  detail: string,
): CheckResult => ({ name, verdict: 'passed', expected, actual, detail });

/** 10:00 UTC today: the fixture's clock, so states that depend on the hour (overdue) are the same whenever the tests run. */
export function fixtureNow(): Date {
  return new Date(Math.floor(Date.now() / DAY) * DAY + 10 * 3_600_000);
}

/** The evidence, relative to `now`. */
export function webFixture(now: Date = fixtureNow()): WebFixture {
  const drills: SummaryDrill[] = [
    {
      name: 'fileserver-nightly',
      description:
        'Nightly tar.gz of the file server; proves the latest archive restores and matches its checksums.',
      owner: 'infra-team',
      tags: ['tier-1'],
      maxAge: 2 * DAY,
      targets: { rto: 15 * MINUTE, rpo: 26 * 3_600_000 },
      controls: ['ISO27001:A.8.13', 'SOC2:CC9.1'],
    },
    {
      name: 'billing-db-weekly',
      description:
        'Weekly pg_basebackup of the billing database, restored whole and checked against its backup_manifest.',
      owner: 'dba-team',
      maxAge: 8 * DAY,
      targets: { rto: 60 * MINUTE },
      controls: ['ISO27001:A.8.13', 'SOC2:CC9.1'],
    },
    {
      name: 'uploads-weekly',
      description: 'Weekly copy of the uploads folder; a seeded 50% sample each run.',
      owner: 'app-team',
      maxAge: 8 * DAY,
      controls: ['ISO27001:A.8.13'],
    },
    {
      name: 'hr-archive-monthly',
      description: 'Monthly archive of the HR system.',
      owner: 'hr-it',
      maxAge: 35 * DAY,
      controls: ['ISO27001:A.5.33'],
    },
    {
      name: 'crm-export-daily',
      description: 'Daily export of the CRM.',
      owner: 'app-team',
      maxAge: 2 * DAY,
      controls: ['OWN-BC-4'],
      waivers: [
        {
          owner: 'ciso',
          reason: 'export adds a temp folder until the vendor upgrade (CHG-2291)',
          expires: at(now, -30, 0).slice(0, 10),
          checks: ['extraFiles'],
        },
      ],
    },
    {
      name: 'legacy-app',
      description: 'Archive of the legacy intranet.',
      owner: 'ops-team',
      maxAge: 30 * DAY,
    },
  ];

  const runs: { record: RunRecord; items: RunItem[] }[] = [];
  const fileserverItems = (seed: number): RunItem[] =>
    [
      'projects/q3-budget.xlsx',
      'projects/roadmap.pdf',
      'home/alice/notes.txt',
      'home/bob/photo.jpg',
      'shared/contracts/acme.pdf',
    ].map((path, index) => ({
      path,
      size: 1000 * (index + 1) + seed,
      sha256: hex(seed * 10 + index),
    }));

  // The file server: nightly, 40 days; one failure (two files changed) and one error.
  for (let day = 39; day >= 0; day--) {
    const startedAt = at(now, day, 3, 0);
    if (Date.parse(startedAt) >= now.getTime()) continue;
    const restoreMs = (6 + 2 * Math.sin(day / 4) + (day % 3) * 0.4) * MINUTE;
    const verifyMs = (1.6 + (day % 5) * 0.1) * MINUTE;
    const setPath = `/backups/fileserver/fileserver-${at(now, day, 1).slice(0, 10)}.tar.gz`;
    const base = {
      drill: 'fileserver-nightly',
      startedAt,
      restoreMs,
      verifyMs,
      setPath,
      files: 18_240,
      bytes: 42_800_000_000,
      targets: { rtoMs: 15 * MINUTE, rpoMs: 26 * 3_600_000 },
      items: fileserverItems(day),
    };
    if (day === 5) {
      runs.push(
        run({
          ...base,
          verdict: 'failed',
          cause:
            'manifest: 2 of 18240 files differ from SHA256SUMS (projects/q3-budget.xlsx, home/alice/notes.txt)',
          checks: [
            passedCheck(
              'restore',
              { entries: 18_240 },
              { entries: 18_240 },
              '18240 entries restored',
            ),
            {
              name: 'manifest',
              verdict: 'failed',
              expected: { files: 18_240, mismatched: 0 },
              actual: { files: 18_240, mismatched: 2 },
              detail: '2 of 18240 files differ from SHA256SUMS',
              findings: [
                {
                  item: 'projects/q3-budget.xlsx',
                  problem: 'changed',
                  expected: hex(1),
                  actual: hex(2),
                },
                {
                  item: 'home/alice/notes.txt',
                  problem: 'changed',
                  expected: hex(3),
                  actual: hex(4),
                },
              ],
              findingsTotal: 2,
            },
            passedCheck('rto', 15 * MINUTE, restoreMs + verifyMs, 'within the RTO'),
          ],
        }),
      );
    } else if (day === 20) {
      runs.push(
        run({
          ...base,
          verdict: 'error',
          cause: 'no backup set matched /backups/fileserver/*.tar.gz',
          setPath: null,
          files: 0,
          bytes: 0,
          restoreMs: 0,
          verifyMs: 0,
          checks: [],
          items: [],
        }),
      );
    } else {
      runs.push(
        run({
          ...base,
          checks: [
            passedCheck(
              'restore',
              { entries: 18_240 },
              { entries: 18_240 },
              '18240 entries restored',
            ),
            passedCheck(
              'manifest',
              { files: 18_240, mismatched: 0 },
              { files: 18_240, mismatched: 0 },
              '18240 of 18240 files match SHA256SUMS',
            ),
            passedCheck('rto', 15 * MINUTE, restoreMs + verifyMs, 'within the RTO'),
          ],
        }),
      );
    }
  }

  // The billing database: weekly; the last run failed, its manifest check naming the files.
  for (const day of [42, 35, 28, 21, 14, 7]) {
    runs.push(
      run({
        drill: 'billing-db-weekly',
        startedAt: at(now, day, 4, 30),
        restoreMs: (24 + (day % 7)) * MINUTE,
        verifyMs: 6 * MINUTE,
        setPath: `/backups/billing/base-${at(now, day, 2).slice(0, 10)}.tar.gz`,
        files: 1284,
        bytes: 9_400_000_000,
        targets: { rtoMs: 60 * MINUTE, rpoMs: null },
        checks: [
          passedCheck('restore', { entries: 1284 }, { entries: 1284 }, '1284 entries restored'),
          passedCheck(
            'manifest',
            { files: 1284, mismatched: 0 },
            { files: 1284, mismatched: 0 },
            '1284 of 1284 files match backup_manifest',
          ),
        ],
      }),
    );
  }
  const failed = run({
    drill: 'billing-db-weekly',
    startedAt: at(now, 1, 4, 30),
    verdict: 'failed',
    cause:
      'manifest: 2 of 1284 files differ from backup_manifest (base/16384/2619, pg_wal/000000010000000000000003)',
    restoreMs: 27 * MINUTE,
    verifyMs: 6 * MINUTE,
    setPath: `/backups/billing/base-${at(now, 1, 2).slice(0, 10)}.tar.gz`,
    files: 1284,
    bytes: 9_400_000_000,
    targets: { rtoMs: 60 * MINUTE, rpoMs: null },
    checks: [
      passedCheck('restore', { entries: 1284 }, { entries: 1284 }, '1284 entries restored'),
      {
        name: 'manifest',
        verdict: 'failed',
        expected: { files: 1284, mismatched: 0 },
        actual: { files: 1284, mismatched: 2 },
        detail: '2 of 1284 files differ from backup_manifest',
        findings: [
          {
            item: 'base/16384/2619',
            problem: 'changed',
            expected: { sha256: hex(11) },
            actual: { sha256: hex(12) },
          },
          {
            item: 'pg_wal/000000010000000000000003',
            problem: 'truncated',
            expected: { size: 16_777_216 },
            actual: { size: 8_388_608 },
          },
        ],
        findingsTotal: 2,
      },
      passedCheck(
        'rto',
        60 * MINUTE,
        33 * MINUTE,
        'restore and verification took 33m, within the 1h RTO',
      ),
    ],
    items: [
      { path: 'base/16384/2619', size: 8192, sha256: hex(12) },
      { path: 'pg_wal/000000010000000000000003', size: 8_388_608, sha256: hex(13) },
      { path: 'global/pg_control', size: 8192, sha256: hex(14) },
    ],
  });
  runs.push(failed);

  // Uploads: sampled, last pass 12 days ago: overdue.
  const sampleItems = Array.from(
    { length: 240 },
    (_, index) =>
      `uploads/${String(2024 + (index % 3))}/${String(index).padStart(5, '0')}-${['invoice', 'avatar', 'scan'][index % 3]}.${['pdf', 'png', 'tiff'][index % 3]}`,
  ).sort();
  let sampled: RunRecord | undefined;
  for (const day of [26, 19, 12]) {
    const entry = run({
      drill: 'uploads-weekly',
      startedAt: at(now, day, 5, 15),
      restoreMs: 3.2 * MINUTE,
      verifyMs: 0.9 * MINUTE,
      setPath: `/backups/uploads/uploads-${at(now, day, 0).slice(0, 10)}`,
      files: 240,
      bytes: 1_830_000_000,
      sourceKind: 'directory',
      sample: {
        spec: { size: '50%' },
        seed: `uploads-weekly-${day}-7f3a`,
        totalItems: 480,
        selectedItems: 240,
        selectedBytes: 1_830_000_000,
        coverage: 0.5,
        items: sampleItems,
      },
      checks: [
        passedCheck('restore', { entries: 240 }, { entries: 240 }, '240 entries restored'),
        passedCheck(
          'manifest',
          { files: 240 },
          { files: 240 },
          '240 of 240 sampled files match the manifest',
        ),
      ],
      items: sampleItems.map((path, index) => ({
        path,
        size: 7_600_000 + index,
        sha256: hex(day * 1000 + index),
      })),
    });
    runs.push(entry);
    sampled = entry.record;
  }

  // CRM: failing on extraFiles, which an active waiver covers.
  for (const day of [3, 2, 1, 0]) {
    const startedAt = at(now, day, 2, 0);
    if (Date.parse(startedAt) >= now.getTime()) continue;
    const failing = day <= 1;
    runs.push(
      run({
        drill: 'crm-export-daily',
        startedAt,
        verdict: failing ? 'failed' : 'passed',
        cause: failing
          ? 'extraFiles: 3 restored files are not in the manifest (tmp/export-1.part, …)'
          : null,
        restoreMs: 1.1 * MINUTE,
        verifyMs: 0.3 * MINUTE,
        setPath: `/backups/crm/crm-${startedAt.slice(0, 10)}.tar`,
        files: 912,
        bytes: 640_000_000,
        checks: [
          passedCheck('restore', { entries: 912 }, { entries: 912 }, '912 entries restored'),
          failing
            ? {
                name: 'extraFiles',
                verdict: 'failed',
                expected: 0,
                actual: 3,
                detail: '3 restored files are not in the manifest',
                findings: [
                  { item: 'tmp/export-1.part', problem: 'extra' },
                  { item: 'tmp/export-2.part', problem: 'extra' },
                  { item: 'tmp/export-3.part', problem: 'extra' },
                ],
                findingsTotal: 3,
              }
            : passedCheck('extraFiles', 0, 0, 'no restored file is missing from the manifest'),
        ],
      }),
    );
  }

  // Legacy: one failure whose cause and finding carry markup, passes since.
  const hostile = run({
    drill: 'legacy-app',
    startedAt: at(now, 10, 6, 0),
    verdict: 'failed',
    cause: HOSTILE_CAUSE,
    restoreMs: 2 * MINUTE,
    verifyMs: 0.5 * MINUTE,
    setPath: '/backups/legacy/legacy.tar',
    files: 75,
    bytes: 90_000_000,
    checks: [
      passedCheck('restore', null, null, 'restored'),
      {
        name: 'manifest',
        verdict: 'failed',
        expected: 'match',
        actual: '<b>mismatch</b>',
        detail: HOSTILE_CAUSE,
        findings: [
          { item: HOSTILE_ITEM, problem: 'changed', expected: hex(5), actual: hex(6) },
          { item: ODD_NAME_ITEM, problem: 'changed', expected: hex(7), actual: hex(8) },
        ],
        findingsTotal: 2,
      },
    ],
  });
  runs.push(hostile);
  // Two ids sharing a prefix: `abcd` is ambiguous.
  for (const [day, runId] of [
    [9, AMBIGUOUS_IDS[0]],
    [4, AMBIGUOUS_IDS[1]],
  ] as const) {
    runs.push(
      run({
        runId,
        drill: 'legacy-app',
        startedAt: at(now, day, 6, 0),
        restoreMs: 2 * MINUTE,
        verifyMs: 0.5 * MINUTE,
        setPath: '/backups/legacy/legacy.tar',
        files: 75,
        bytes: 90_000_000,
        checks: [passedCheck('restore', null, null, 'restored')],
      }),
    );
  }

  runs.sort((a, b) => Date.parse(a.record.startedAt) - Date.parse(b.record.startedAt));
  return {
    now,
    drills,
    runs,
    failedRun: failed.record,
    hostileRun: hostile.record,
    sampledRun: sampled as RunRecord,
  };
}

/** Records every run of the fixture through the real evidence path. */
export async function seedEvidence(store: EvidenceStore, fixture: WebFixture): Promise<void> {
  for (const { record, items } of fixture.runs) {
    await recordRunStart(store.db, startOf(record));
    await recordRunResult(store.db, record, items);
  }
}

/** Where a test's evidence lives: an embedded folder or a fresh PostgreSQL database. */
export interface WebPlace {
  options: OpenEvidenceStoreOptions;
  cleanup(): Promise<void>;
}

export async function prepareWebPlace(engine: 'pglite' | 'postgres'): Promise<WebPlace> {
  if (engine === 'pglite') {
    const { dir, cleanup } = await createTestEmbeddedDir();
    return { options: { embeddedDir: dir, log: silentLogger() }, cleanup };
  }
  const url = await createTestDatabase();
  const unused = await mkdtemp(join(tmpdir(), 'restore-drill-unused-'));
  return {
    options: { url, embeddedDir: join(unused, 'embedded'), log: silentLogger() },
    cleanup: () => rm(unused, { recursive: true, force: true }),
  };
}

/** A seeded store served in-process on a free loopback port. */
export interface ServedEvidence {
  fixture: WebFixture;
  server: EvidenceServer;
  store: EvidenceStore;
  url: string;
  close(): Promise<void>;
}

/** Seeds the fixture (writable store, closed again), then serves it read-only as `serve` does. */
export async function serveFixture(
  engine: 'pglite' | 'postgres',
  auth: ServeAuth | null = AUTH,
  fixture = webFixture(),
  /** Runs on the writable store after seeding (to damage the evidence, say). */
  after?: (store: EvidenceStore) => Promise<void>,
): Promise<ServedEvidence> {
  const place = await prepareWebPlace(engine);
  const writable = await openEvidenceStore(place.options);
  try {
    await seedEvidence(writable, fixture);
    await after?.(writable);
  } finally {
    await writable.close();
  }
  const store = await openReadOnlyStore(place.options);
  const server = await startEvidenceServer({
    db: store.db,
    drills: fixture.drills,
    auth: createAuthenticator(auth),
    log: silentLogger(),
    host: '127.0.0.1',
    port: 0,
    now: () => fixture.now,
    reviewers: auth?.reviewers,
  });
  return {
    fixture,
    server,
    store,
    url: server.url,
    close: async () => {
      await server.close();
      await store.close();
      await place.cleanup();
    },
  };
}

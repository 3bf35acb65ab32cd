import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drillJob } from '../../jobs/drill.js';
import type { AlertMessage } from '../../src/alerts/message.js';
import { parseConfig } from '../../src/config/load.js';
import { openEvidenceStore, type EvidenceStore } from '../../src/evidence/open-store.js';
import { latestSelftests } from '../../src/evidence/selftests.js';
import { runCommand } from '../../src/exec/run-command.js';
import { silentLogger } from '../../src/log/logger.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { createTestDatabase } from '../helpers/test-database.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

let dir: string;
let store: EvidenceStore;
let hook: WebhookReceiver;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rd-drill-job-'));
  hook = await WebhookReceiver.start();
  store = await openEvidenceStore({
    url: await createTestDatabase(),
    embeddedDir: join(dir, 'unused'),
    log: silentLogger(),
  });
}, SLOW_STORE_MS);

afterAll(async () => {
  await store?.close();
  await hook?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('drill job alerts', () => {
  it(
    'alerts once when a real drill fails, naming the damaged file, and again when it passes',
    async () => {
      const set = join(dir, 'backups', 'set-2026-11-27');
      await mkdir(set, { recursive: true });
      await writeFile(join(set, 'customers.csv'), 'id,name\n1,Ada\n2,Grace\n');
      await writeFile(join(set, 'orders.csv'), 'id,total\n1,10\n');
      const sums = await runCommand('sha256sum', ['customers.csv', 'orders.csv'], {
        cwd: set,
        keepStdout: true,
      });
      expect(sums.exitCode).toBe(0);
      await writeFile(join(set, 'SHA256SUMS'), sums.stdout);
      const loaded = parseConfig(
        `
scratch: { root: scratch }
drills:
  - name: files
    owner: infra-team
    source: { kind: directory, path: backups/set-* }
    checks: { manifest: { path: SHA256SUMS } }
alerts:
  channels:
    hook: { kind: webhook, url: "${hook.url}", timeout: 20s }
`,
        join(dir, 'restore-drill.yaml'),
        {},
        dir,
      );
      const context = { loaded, db: store.db, log: silentLogger() };

      const good = await readFile(join(set, 'customers.csv'));
      await writeFile(
        join(set, 'customers.csv'),
        Buffer.concat([good.subarray(0, 5), Buffer.from('X'), good.subarray(6)]),
      );
      const failed = await drillJob.run({ drill: 'files', trigger: 'manual' }, context);
      expect(failed.status === 'finished' && failed.record.verdict).toBe('failed');
      const second = await drillJob.run({ drill: 'files', trigger: 'manual' }, context);
      expect(second.status === 'finished' && second.record.verdict).toBe('failed');
      expect(hook.accepted).toHaveLength(1);
      const alert = hook.accepted[0]!.body as AlertMessage;
      expect(alert).toMatchObject({
        kind: 'failing',
        drill: { name: 'files', owner: 'infra-team' },
      });
      expect(alert.run!.set!.path).toContain('set-2026-11-27');
      const manifest = alert.failedChecks.find((check) => check.name === 'manifest')!;
      expect(manifest.findings.map((finding) => finding.item)).toContain('customers.csv');
      expect(alert.evidenceCommand).toBe(
        `restore-drill show ${failed.status === 'finished' ? failed.record.runId : ''} --config ${join(dir, 'restore-drill.yaml')}`,
      );

      await writeFile(join(set, 'customers.csv'), good);
      const passed = await drillJob.run({ drill: 'files', trigger: 'manual' }, context);
      expect(passed.status === 'finished' && passed.record.verdict).toBe('passed');
      expect(hook.accepted.map((request) => (request.body as AlertMessage).kind)).toEqual([
        'failing',
        'recovered',
      ]);
    },
    SLOW_STORE_MS,
  );
});

describe('drill job selftests', () => {
  it('runs and records a selftest after every Nth scheduled run (selftest.every), never after a manual one', async () => {
    const set = join(dir, 'selftest-backups', 'set-2026-11-27');
    await mkdir(set, { recursive: true });
    await writeFile(join(set, 'a.txt'), 'alpha\n');
    await writeFile(join(set, 'b.txt'), 'beta\n');
    const sums = await runCommand('sha256sum', ['a.txt', 'b.txt'], { cwd: set, keepStdout: true });
    await writeFile(join(set, 'SHA256SUMS'), sums.stdout);
    const drill = `selftested-${Date.now()}`;
    const loaded = parseConfig(
      `
scratch: { root: scratch }
drills:
  - name: ${drill}
    source: { kind: directory, path: selftest-backups/set-* }
    checks: { manifest: { path: SHA256SUMS }, extraFiles: ignore }
    selftest: { every: 2 }
`,
      join(dir, 'restore-drill.yaml'),
      {},
      dir,
    );
    const context = { loaded, db: store.db, log: silentLogger() };
    const selftests = async () => (await latestSelftests(store.db, [drill])).get(drill);
    let slot = Date.parse('2026-12-01T03:00:00Z');
    const scheduled = async () => {
      slot += 86_400_000;
      const result = await drillJob.run(
        { drill, trigger: 'schedule', scheduledFor: new Date(slot) },
        context,
      );
      expect(result.status === 'finished' && result.record.verdict).toBe('passed');
    };

    await scheduled();
    expect(await selftests()).toBeUndefined();
    // The second run is a manual one: the count is 2, but only the daemon's runs are followed.
    await drillJob.run({ drill, trigger: 'manual' }, context);
    expect(await selftests()).toBeUndefined();
    await scheduled();
    expect(await selftests()).toBeUndefined();
    await scheduled();
    const latest = await selftests();
    expect(latest?.verdict).toBe('failed');
    expect(latest?.damages.filter((damage) => !damage.detected).map((d) => d.kind)).toEqual([
      'added-file',
    ]);
  }, 60_000);
});

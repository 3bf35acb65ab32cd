import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drillJob } from '../../jobs/drill.js';
import type { AlertMessage } from '../../src/alerts/message.js';
import { parseConfig } from '../../src/config/load.js';
import { openEvidenceStore, type EvidenceStore } from '../../src/evidence/open-store.js';
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
    hook: { kind: webhook, url: "${hook.url}", timeout: 2s }
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

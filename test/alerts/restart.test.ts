import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listAttempts, recordAlertEvent, type AlertEvent } from '../../src/alerts/alert-log.js';
import { buildTestMessage } from '../../src/alerts/message.js';
import { openEvidenceStore } from '../../src/evidence/open-store.js';
import { runCommand } from '../../src/exec/run-command.js';
import { silentLogger } from '../../src/log/logger.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { createTestDatabase, createTestEmbeddedDir } from '../helpers/test-database.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

const projectRoot = resolve(import.meta.dirname, '../..');
const runTs = join(projectRoot, 'test/helpers/run-ts.mjs');
const childScript = join(import.meta.dirname, 'fixtures/deliver-child.ts');

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Where the evidence lives, as the child takes it: a postgres URL or an embedded folder. */
async function placeFor(dialect: 'pglite' | 'postgres'): Promise<string> {
  if (dialect === 'postgres') return createTestDatabase();
  const { dir, cleanup } = await createTestEmbeddedDir();
  cleanups.push(cleanup);
  return dir;
}

function open(where: string) {
  return openEvidenceStore(
    where.startsWith('postgres')
      ? { url: where, embeddedDir: join(tmpdir(), 'unused'), log: silentLogger() }
      : { embeddedDir: where, log: silentLogger() },
  );
}

describe.each([['pglite' as const], ['postgres' as const]])(
  'a delivering process killed mid-send, on %s',
  (dialect) => {
    it(
      'is not sent again what it delivered, and sends again what it was sending when killed',
      async () => {
        const where = await placeFor(dialect);
        // Answers the first request, then holds every later one unanswered.
        const hook = await WebhookReceiver.start({ hangAfter: 1 });
        cleanups.push(() => hook.close());
        const dir = await mkdtemp(join(tmpdir(), 'rd-restart-'));
        cleanups.push(() => rm(dir, { recursive: true, force: true }));
        const configPath = join(dir, 'restore-drill.yaml');
        await writeFile(
          configPath,
          `drills:\n  - name: nightly\n    source: { kind: tar, path: /b/*.tar }\nalerts:\n  channels:\n    hook: { kind: webhook, url: "${hook.url}", timeout: 60s }\n  retry: { attempts: 5, initialDelay: 100ms, maxDelay: 200ms }\n`,
        );

        const store = await open(where);
        const events: AlertEvent[] = [];
        for (const name of ['first', 'second']) {
          const now = new Date();
          const { event } = await recordAlertEvent(store.db, {
            dedupeKey: `heartbeat:${name}`,
            kind: 'heartbeat',
            drill: null,
            problemKey: null,
            runId: null,
            createdAt: now,
            channels: ['hook'],
            message: { ...buildTestMessage({ channel: 'hook', now }), title: name },
          });
          events.push(event);
        }
        await store.close();

        const child = spawn(process.execPath, [runTs, childScript, configPath, where, '60000'], {
          cwd: projectRoot,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        const exited = once(child, 'exit');
        await Promise.race([
          hook.waitForArrivals(2),
          exited.then(() => Promise.reject(new Error(`child exited early: ${stderr}`))),
        ]);
        child.kill('SIGKILL');
        await exited;
        expect(hook.accepted.map((request) => (request.body as { title: string }).title)).toEqual([
          'first',
        ]);

        // The receiver is healthy again; a new process reads the log.
        hook.dropHeld();
        const second = await runCommand(
          process.execPath,
          [runTs, childScript, configPath, where, '10000'],
          { cwd: projectRoot, timeoutMs: SLOW_STORE_MS },
        );
        expect(second.exitCode, second.stderrTail).toBe(0);
        expect(hook.accepted.map((request) => (request.body as { title: string }).title)).toEqual([
          'first',
          'second',
        ]);
        expect(hook.arrivals).toBe(3);

        const after = await open(where);
        try {
          expect(
            (await listAttempts(after.db, events[0]!.id)).map((attempt) => [
              attempt.attempt,
              attempt.ok,
            ]),
          ).toEqual([[1, true]]);
          // The killed attempt never committed: the log holds the one that succeeded.
          expect(
            (await listAttempts(after.db, events[1]!.id)).map((attempt) => [
              attempt.attempt,
              attempt.ok,
            ]),
          ).toEqual([[1, true]]);
        } finally {
          await after.close();
        }
      },
      SLOW_STORE_MS,
    );
  },
);

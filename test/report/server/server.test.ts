import { get as httpGet } from 'node:http';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunItem, RunRecord } from '../../../src/evidence/run-record.js';
import { getRun, recordRunStart } from '../../../src/evidence/runs.js';
import type { EvidenceSummary } from '../../../src/report/drill-summary.js';
import type { RunRow } from '../../../src/report/render-csv.js';
import { silentLogger } from '../../../src/log/logger.js';
import { createAuthenticator } from '../../../src/report/server/auth.js';
import { SECURITY_HEADERS, startEvidenceServer } from '../../../src/report/server/server.js';
import { startOf } from '../../helpers/run-records.js';
import {
  AMBIGUOUS_IDS,
  BASIC,
  HOSTILE_CAUSE,
  TOKEN,
  serveFixture,
  type ServedEvidence,
} from './web-fixture.js';

const bearer = { authorization: `Bearer ${TOKEN}` };
const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

interface RunList {
  window: { since: string; until: string };
  page: number;
  pageSize: number;
  total: number;
  runs: RunRow[];
}

describe.each(['pglite', 'postgres'] as const)(
  'the web view over evidence on %s',
  { timeout: 60_000 },
  (engine) => {
    let served: ServedEvidence;
    const get = (path: string, headers: Record<string, string> = bearer, init: RequestInit = {}) =>
      fetch(new URL(path, served.url), { headers, redirect: 'manual', ...init });
    const getJson = async <T>(path: string): Promise<T> => {
      const response = await get(path);
      expect(response.status, `${path}: ${response.status}`).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
      return (await response.json()) as T;
    };

    beforeAll(async () => {
      served = await serveFixture(engine);
    }, 60_000);
    afterAll(async () => {
      await served?.close();
    });

    describe('access', () => {
      it('refuses a request without credentials with 401 and both challenges', async () => {
        for (const path of [
          '/',
          '/runs',
          '/api/summary',
          `/runs/${served.fixture.failedRun.runId}`,
        ]) {
          const response = await get(path, {});
          expect(response.status, path).toBe(401);
          expect(response.headers.get('www-authenticate')).toBe(
            'Basic realm="restore-drill", charset="UTF-8", Bearer realm="restore-drill"',
          );
          const body = await response.text();
          expect(body).not.toContain(served.fixture.failedRun.runId);
          expect(body).not.toContain('billing-db-weekly');
        }
        expect(await (await get('/api/summary', {})).json()).toEqual({
          error: 'credentials required',
        });
      });

      it('refuses a wrong bearer token, a wrong password, a wrong user and an unknown scheme', async () => {
        for (const headers of [
          { authorization: `Bearer ${TOKEN}x` },
          { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
          { authorization: 'Bearer ' },
          basic(BASIC.user, `${BASIC.password}!`),
          basic('admin', BASIC.password),
          {
            authorization: `Basic ${Buffer.from(`${BASIC.user}${BASIC.password}`).toString('base64')}`,
          },
          { authorization: `Token ${TOKEN}` },
          { authorization: TOKEN },
        ]) {
          const response = await get('/api/summary', headers);
          expect(response.status, headers.authorization).toBe(401);
          expect(await response.json()).toEqual({ error: 'credentials not accepted' });
        }
      });

      it('accepts the bearer token and the basic-auth credentials', async () => {
        expect((await get('/', bearer)).status).toBe(200);
        expect((await get('/', { authorization: `bearer   ${TOKEN}` })).status).toBe(200);
        expect((await get('/', basic(BASIC.user, BASIC.password))).status).toBe(200);
      });

      it('trades a ?token= for an HttpOnly SameSite=Strict cookie that is not the token, and sends the browser on without it', async () => {
        const response = await get('/runs?verdict=failed&token=' + encodeURIComponent(TOKEN), {});
        expect(response.status).toBe(200);
        const cookie = response.headers.get('set-cookie') as string;
        expect(cookie).toMatch(
          /^rd_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict$/,
        );
        expect(cookie).not.toContain(TOKEN);
        const page = await response.text();
        expect(page).toContain('<meta http-equiv="refresh" content="0; url=/runs?verdict=failed">');
        expect(page).not.toContain(TOKEN);

        const session = cookie.split(';')[0] as string;
        expect((await get('/runs?verdict=failed', { cookie: session })).status).toBe(200);
        expect((await get('/api/summary', { cookie: `other=1; ${session}` })).status).toBe(200);
        // The cookie grants a browser session, not API access as a bearer token.
        expect(
          (await get('/api/summary', { authorization: `Bearer ${session.split('=')[1]}` })).status,
        ).toBe(401);
      });

      it('answers an API call with ?token= directly, setting the cookie too', async () => {
        const response = await get(`/api/runs?verdict=error&token=${TOKEN}`, {});
        expect(response.status).toBe(200);
        expect(response.headers.get('set-cookie')).toMatch(/^rd_session=/);
        expect(((await response.json()) as RunList).runs.map((run) => run.verdict)).toEqual([
          'error',
        ]);
      });

      it('refuses a wrong ?token= and a stale cookie, and tells the browser to forget the cookie', async () => {
        const wrong = await get('/?token=not-the-token-at-all', {});
        expect(wrong.status).toBe(401);
        expect(wrong.headers.get('set-cookie')).toBeNull();
        expect(await wrong.text()).toContain('The credentials given were not accepted.');
        const stale = await get('/', { cookie: 'rd_session=c3RhbGU' });
        expect(stale.status).toBe(401);
        expect(stale.headers.get('set-cookie')).toBe(
          'rd_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0',
        );
      });

      it('never sends a ?token= sign-in on to another site', async () => {
        // fetch would resolve `//host` itself: send the raw request target.
        const body = await new Promise<string>((resolve, reject) => {
          const request = httpGet(
            {
              host: '127.0.0.1',
              port: served.server.port,
              path: `//evil.example/x?token=${TOKEN}`,
            },
            (response) => {
              let text = '';
              response
                .setEncoding('utf8')
                .on('data', (chunk: string) => (text += chunk))
                .on('end', () => resolve(text));
            },
          );
          request.on('error', reject);
        });
        expect(body).toContain('content="0; url=/x"');
      });
    });

    describe('read-only', () => {
      it('refuses every method but GET and HEAD with 405, before looking at credentials', async () => {
        for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
          for (const headers of [bearer, {}]) {
            const response = await get('/api/summary', headers, {
              method,
              ...(method === 'POST' || method === 'PUT' ? { body: '{}' } : {}),
            });
            expect(response.status, method).toBe(405);
            expect(response.headers.get('allow')).toBe('GET, HEAD');
            expect(await response.json()).toEqual({
              error: `${method} is not allowed: the evidence is read-only; use GET`,
            });
          }
        }
        expect((await get('/', bearer, { method: 'POST', body: 'x=1' })).status).toBe(405);
      });

      it('answers HEAD with the headers of GET and no body', async () => {
        const head = await get('/runs', bearer, { method: 'HEAD' });
        const full = await get('/runs');
        expect(head.status).toBe(200);
        expect(head.headers.get('content-length')).toBe(full.headers.get('content-length'));
        expect(await head.text()).toBe('');
      });

      it('serves through a session in which PostgreSQL refuses every write', async () => {
        const record = served.fixture.failedRun;
        await expect(
          recordRunStart(
            served.store.db,
            startOf({ ...record, runId: '7c4d6a52-5a0e-4a39-9d64-6bd1f2a3c001' }),
          ),
        ).rejects.toThrow(/read-only transaction/);
        await expect(sql`delete from run_items`.execute(served.store.db)).rejects.toThrow(
          /read-only transaction/,
        );
        await expect(sql`create table intruder (x int)`.execute(served.store.db)).rejects.toThrow(
          /read-only transaction/,
        );
        expect((await getRun(served.store.db, record.runId))?.record).toEqual(record);
      });
    });

    describe('pages', () => {
      it('sends the security headers with every page, error and refusal', async () => {
        for (const [path, headers] of [
          ['/', bearer],
          ['/nope', bearer],
          ['/', {}],
          ['/api/runs?since=x', bearer],
        ] as const) {
          const response = await get(path, headers);
          for (const [name, value] of Object.entries(SECURITY_HEADERS))
            expect(response.headers.get(name), `${path} ${name}`).toBe(value);
        }
      });

      it('lists every drill on the overview, never-passed and overdue first', async () => {
        const page = await (await get('/')).text();
        const order = [...page.matchAll(/<tr data-drill="([^"]+)" data-state="([^"]+)">/g)].map(
          (match) => `${match[1]}:${match[2]}`,
        );
        expect(order).toEqual([
          'hr-archive-monthly:red',
          'uploads-weekly:red',
          'billing-db-weekly:red',
          'crm-export-daily:waived',
          'fileserver-nightly:green',
          'legacy-app:green',
        ]);
        expect(page).not.toMatch(/<script/i);
      });

      it('shows the drill page with its trend chart, pass/fail strip and a page of history', async () => {
        const response = await get('/drills/fileserver-nightly?pageSize=10&page=2');
        expect(response.status).toBe(200);
        const page = await response.text();
        const runs = served.fixture.runs
          .filter((entry) => entry.record.drill === 'fileserver-nightly')
          .map((entry) => entry.record);
        expect(page).toContain('aria-label="Restore plus verification time of fileserver-nightly"');
        expect(page.match(/<circle /g)).toHaveLength(runs.length);
        expect(page).toContain(`Runs 11–20 of ${runs.length}`);
        const newestFirst = [...runs].reverse();
        const shown = [...page.matchAll(/href="\/runs\/([0-9a-f-]{36})"><code>/g)].map(
          (match) => match[1],
        );
        expect(shown).toEqual(newestFirst.slice(10, 20).map((record) => record.runId));
        expect(page).toContain('href="/drills/fileserver-nightly?pageSize=10"');
        expect(page).toContain('href="/drills/fileserver-nightly?pageSize=10&amp;page=3"');
      });

      it('shows a failed run: the failing check with expected and actual, and each finding naming its file', async () => {
        const run = served.fixture.failedRun;
        const page = await (await get(`/runs/${run.runId.slice(0, 8)}`)).text();
        expect(page).toContain('<tr id="check-manifest" class="check-failed">');
        expect(page).toContain(
          '<code>{&quot;files&quot;:1284,&quot;mismatched&quot;:0}</code></td><td><code>{&quot;files&quot;:1284,&quot;mismatched&quot;:2}</code>',
        );
        expect(page).toContain('<td><code>base/16384/2619</code></td><td>changed</td>');
        expect(page).toContain(
          '<td><code>pg_wal/000000010000000000000003</code></td><td>truncated</td><td><code>{&quot;size&quot;:16777216}</code></td><td><code>{&quot;size&quot;:8388608}</code></td>',
        );
        const stored = await getRun(served.store.db, run.runId);
        expect(page).toContain(`<dt>Position</dt><dd>seq ${stored?.seq}</dd>`);
        expect(page).toContain(stored?.prevHash);
        expect(page).toContain(stored?.recordHash);
        expect(page).toContain('3 restored items');
      });

      it('renders markup in a cause, a detail and a finding as text', async () => {
        const run = served.fixture.hostileRun;
        for (const path of [
          `/runs/${run.runId}`,
          '/runs?drill=legacy-app',
          '/drills/legacy-app',
          '/?since=30d',
        ]) {
          const page = await (await get(path)).text();
          expect(page, path).not.toMatch(/<script|<img|<b>mismatch/i);
          if (path !== '/?since=30d')
            expect(page, path).toContain(
              '&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;',
            );
        }
      });

      it("lists a run's items a page at a time", async () => {
        const run = served.fixture.sampledRun;
        const first = await (await get(`/runs/${run.runId}/items`)).text();
        expect(first).toContain('Items 1–200 of 240');
        const second = await (await get(`/runs/${run.runId}/items?page=2`)).text();
        expect(second).toContain('Items 201–240 of 240');
        expect(second).toContain(`<code>${[...(run.sample?.items ?? [])].sort().at(-1)}</code>`);
      });
      it("keeps a retired drill's evidence readable: listed as not in the config, with its own page", async () => {
        const retired = await startEvidenceServer({
          db: served.store.db,
          drills: served.fixture.drills.filter((drill) => drill.name !== 'legacy-app'),
          auth: createAuthenticator({ token: TOKEN }),
          log: silentLogger(),
          host: '127.0.0.1',
          port: 0,
          now: () => served.fixture.now,
        });
        try {
          const overview = await (await fetch(retired.url, { headers: bearer })).text();
          expect(overview).toContain(
            '<b>legacy-app</b></a><br><span class="muted">(not in config)</span>',
          );
          const page = await fetch(new URL('/drills/legacy-app', retired.url), { headers: bearer });
          expect(page.status).toBe(200);
          expect(await page.text()).toContain(
            'This drill is no longer in the config; its evidence is kept.',
          );
          // Outside the period it has no runs, and still has a page.
          expect(
            (
              await fetch(
                new URL('/drills/legacy-app?since=2000-01-01&until=2000-01-02', retired.url),
                { headers: bearer },
              )
            ).status,
          ).toBe(200);
          expect(
            (await fetch(new URL('/api/runs?drill=legacy-app', retired.url), { headers: bearer }))
              .status,
          ).toBe(200);
        } finally {
          await retired.close();
        }
      });
    });

    describe('query parameters', () => {
      const refusals: [string, number, string][] = [
        [
          '/?since=yesterday',
          400,
          "since: 'yesterday' is not a duration or a date; expected e.g. 90d, 2026-01-01 or 2026-01-01T00:00:00Z",
        ],
        [
          '/?until=2026-02-30',
          400,
          "until: '2026-02-30' is not a duration or a date; expected e.g. 90d, 2026-01-01 or 2026-01-01T00:00:00Z",
        ],
        [
          '/?since=2026-03-01&until=2026-01-01',
          400,
          'since: 2026-03-01T00:00:00.000Z must be before until (2026-01-02T00:00:00.000Z)',
        ],
        ['/?since=1d&since=2d', 400, 'since: given more than once; expected one value'],
        [
          '/?verdcit=failed',
          400,
          'verdcit: unknown parameter; expected one of since, until, drill, owner, verdict, state',
        ],
        [
          '/runs?verdict=broken',
          400,
          "verdict: 'broken' is not allowed; expected one of passed, failed, error, timed_out, aborted",
        ],
        [
          '/?state=purple',
          400,
          "state: 'purple' is not allowed; expected one of green, red, waived",
        ],
        ['/runs?page=0', 400, 'page: expected 1 or more'],
        ['/runs?page=two', 400, 'page: expected a whole number'],
        ['/runs?pageSize=501', 400, 'pageSize: expected at most 500'],
        ['/runs?drill=../etc', 400, 'drill: expected a drill name (letters, digits, _ . -)'],
        ['/runs?drill=nope', 400, "drill: 'nope' is not a configured drill and has no evidence"],
        [
          '/?owner=nobody',
          400,
          "owner: 'nobody' owns no configured drill; expected one of app-team, dba-team, hr-it, infra-team, ops-team",
        ],
        [
          '/runs/x',
          400,
          "run id: 'x' is not a run id; expected a UUID or a unique prefix of it (4 or more characters)",
        ],
        ['/runs/abcd?x=1', 400, 'x: unknown parameter; expected none'],
        [
          '/runs/00000000-0000-0000-0000-000000000000',
          404,
          "no run '00000000-0000-0000-0000-000000000000' in the evidence",
        ],
        ['/drills/nope', 404, "no drill 'nope': it is not configured and has no evidence"],
        [
          '/drills/a%2Fb',
          400,
          "drill name: 'a/b' is not a drill name; expected letters, digits, _ . -",
        ],
        ['/drills/%E0%A4%A', 400, "path: '%E0%A4%A' is not valid percent-encoding"],
        ['/nothing/here', 404, 'no page at /nothing/here'],
        ['/runs/abcd/items?pageSize=1001', 400, 'pageSize: expected at most 1000'],
      ];

      it.each(refusals)(
        '%s → %i: one line naming the parameter, as JSON and as a page',
        async (path, status, message) => {
          const api = path.startsWith('/?')
            ? `/api/summary${path.slice(1)}`
            : path.startsWith('/drills/')
              ? `/api${path}/runs`
              : `/api${path}`;
          const response = await get(path === '/nothing/here' ? '/api/nothing/here' : api);
          expect(response.status).toBe(status);
          expect(await response.json()).toEqual({
            error:
              message === 'no page at /nothing/here' ? 'no page at /api/nothing/here' : message,
          });
          const page = await get(path);
          expect(page.status).toBe(status);
          expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
          expect(await page.text()).toContain(
            `<p class="callout">${message.replace(/'/g, '&#39;')}</p>`,
          );
        },
      );

      it('refuses an ambiguous run id prefix and accepts a unique one', async () => {
        const ambiguous = await get('/api/runs/abcd');
        expect(ambiguous.status).toBe(400);
        expect(await ambiguous.json()).toEqual({
          error: `run id: run id prefix 'abcd' is ambiguous: it matches ${AMBIGUOUS_IDS[0]}, ${AMBIGUOUS_IDS[1]}`,
        });
        expect((await get('/runs/abcd2')).status).toBe(200);
      });
    });

    describe('JSON API', () => {
      it('/api/summary is the summary model, filtered by owner, state and verdict', async () => {
        const all = await getJson<EvidenceSummary>('/api/summary');
        expect(all.drills.map((drill) => drill.name)).toEqual([
          'hr-archive-monthly',
          'uploads-weekly',
          'billing-db-weekly',
          'crm-export-daily',
          'fileserver-nightly',
          'legacy-app',
        ]);
        expect(all.totals).toMatchObject({
          drills: 6,
          red: 3,
          waived: 1,
          green: 2,
          neverPassed: 1,
          overdue: 3,
        });
        expect(all.drills.filter((drill) => drill.overdue).map((drill) => drill.name)).toEqual([
          'hr-archive-monthly',
          'uploads-weekly',
          'crm-export-daily',
        ]);
        expect(all.chain?.recordHash).toMatch(/^[0-9a-f]{64}$/);
        const team = await getJson<EvidenceSummary>('/api/summary?owner=app-team');
        expect(team.drills.map((drill) => drill.name)).toEqual([
          'uploads-weekly',
          'crm-export-daily',
        ]);
        const red = await getJson<EvidenceSummary>('/api/summary?state=red');
        expect(red.drills.map((drill) => drill.name)).toEqual([
          'hr-archive-monthly',
          'uploads-weekly',
          'billing-db-weekly',
        ]);
        expect(red.totals).toMatchObject({ drills: 3, red: 3, green: 0 });
        const failed = await getJson<EvidenceSummary>('/api/summary?verdict=failed&since=30d');
        expect(failed.drills.map((drill) => drill.name).sort()).toEqual([
          'billing-db-weekly',
          'crm-export-daily',
          'fileserver-nightly',
          'legacy-app',
        ]);
        const windowed = await getJson<EvidenceSummary>(
          '/api/summary?since=2000-01-01&until=2000-12-31',
        );
        expect(windowed.window).toEqual({
          since: '2000-01-01T00:00:00.000Z',
          until: '2001-01-01T00:00:00.000Z',
        });
        expect(windowed.totals.runs).toBe(0);
      });

      it('/api/runs lists runs newest first, filtered by verdict, drill and owner, a page at a time', async () => {
        const failed = await getJson<RunList>('/api/runs?verdict=failed');
        const expected = served.fixture.runs.filter((entry) => entry.record.verdict === 'failed');
        expect(failed.total).toBe(expected.length);
        expect(failed.runs.map((run) => run.runId)).toEqual(
          expected.map((entry) => entry.record.runId).reverse(),
        );
        expect(failed.runs[0]).toMatchObject({
          seq: expect.any(Number),
          recordHash: expect.stringMatching(/^[0-9a-f]{64}$/),
          verdict: 'failed',
        });
        const twoVerdicts = await getJson<RunList>('/api/runs?verdict=failed&verdict=error');
        expect(twoVerdicts.total).toBe(expected.length + 1);
        const owner = await getJson<RunList>('/api/runs?owner=app-team&pageSize=5&page=2');
        const teamRuns = served.fixture.runs.filter((entry) =>
          ['uploads-weekly', 'crm-export-daily'].includes(entry.record.drill),
        );
        expect(owner).toMatchObject({ page: 2, pageSize: 5, total: teamRuns.length });
        expect(
          owner.runs
            .map((run) => run.drill)
            .every((drill) => drill === 'uploads-weekly' || drill === 'crm-export-daily'),
        ).toBe(true);
        const crossed = await getJson<RunList>('/api/runs?owner=app-team&drill=billing-db-weekly');
        expect(crossed.total).toBe(0);
      });

      it("/api/drills/:name/runs lists one drill's runs", async () => {
        const list = await getJson<RunList & { drill: string }>(
          '/api/drills/billing-db-weekly/runs?verdict=passed',
        );
        expect(list.drill).toBe('billing-db-weekly');
        expect(list.total).toBe(6);
        expect(
          list.runs.every((run) => run.drill === 'billing-db-weekly' && run.verdict === 'passed'),
        ).toBe(true);
      });

      it('/api/runs/:id is the stored record with its chain position and item count', async () => {
        const run = served.fixture.failedRun;
        const stored = await getRun(served.store.db, run.runId);
        const body = await getJson<{
          record: RunRecord;
          chain: Record<string, unknown>;
          items: { total: number };
        }>(`/api/runs/${run.runId}`);
        expect(body.record).toEqual(run);
        expect(body.chain).toEqual({
          seq: stored?.seq,
          prevHash: stored?.prevHash,
          recordHash: stored?.recordHash,
          previous: { seq: expect.any(Number), runId: expect.any(String) },
          next: expect.anything(),
        });
        expect(body.items).toEqual({ total: 3 });
      });

      it('/api/runs/:id/items pages through the items in path order', async () => {
        const run = served.fixture.sampledRun;
        const page = await getJson<{ runId: string; total: number; items: RunItem[] }>(
          `/api/runs/${run.runId.slice(0, 6)}/items?pageSize=100&page=3`,
        );
        expect(page.runId).toBe(run.runId);
        expect(page.total).toBe(240);
        expect(page.items.map((item) => item.path)).toEqual(
          [...(run.sample?.items ?? [])].sort().slice(200),
        );
      });
    });

    it('shows the hostile cause verbatim in JSON (JSON is data, not markup)', async () => {
      const body = await getJson<{ record: RunRecord }>(
        `/api/runs/${served.fixture.hostileRun.runId}`,
      );
      expect(body.record.cause).toBe(HOSTILE_CAUSE);
    });
  },
);

describe.each(['pglite', 'postgres'] as const)(
  'the web view over damaged evidence on %s',
  { timeout: 60_000 },
  (engine) => {
    let served: ServedEvidence;
    const garbled = 'dead0000-0000-4000-8000-00000000beef';

    beforeAll(async () => {
      // A row written around restore-drill: inserts pass the append-only guard, but this record is not JSON.
      served = await serveFixture(engine, undefined, undefined, async (store) => {
        const head = await sql<{
          record_hash: string;
        }>`select record_hash from run_results order by seq desc limit 1`.execute(store.db);
        await sql`insert into run_starts (run_id, drill, trigger, started_at, host, pid, version, config_hash)
        values (${garbled}, 'legacy-app', 'manual', now(), 'h', 1, 'v', 'c')`.execute(store.db);
        await sql`insert into run_results (run_id, drill, verdict, started_at, finished_at, files, bytes, checks_failed, restore_ms, verify_ms, total_ms, record, prev_hash, record_hash)
        values (${garbled}, 'legacy-app', 'passed', now() - interval '1 day', now() - interval '1 day', 0, 0, 0, 0, 0, 0, '{not json', ${head.rows[0]?.record_hash}, ${'e'.repeat(64)})`.execute(
          store.db,
        );
      });
    }, 60_000);
    afterAll(async () => {
      await served?.close();
    });

    it('says plainly that a stored record is damaged, naming it, instead of a generic error', async () => {
      const response = await fetch(new URL(`/api/runs/${garbled}`, served.url), {
        headers: bearer,
      });
      expect(response.status).toBe(500);
      expect(((await response.json()) as { error: string }).error).toMatch(
        new RegExp(`^stored record seq \\d+ \\(run ${garbled}\\) is not JSON: `),
      );
      const page = await fetch(new URL(`/runs/${garbled}`, served.url), { headers: bearer });
      expect(page.status).toBe(500);
      const text = await page.text();
      expect(text).toContain('<h1>Evidence damaged</h1>');
      expect(text).toContain(`(run ${garbled}) is not JSON`);
    });

    it('says so on a list that includes the damaged record, and points to evidence verify', async () => {
      for (const path of ['/api/runs?drill=legacy-app', '/runs', '/drills/legacy-app']) {
        const response = await fetch(new URL(path, served.url), { headers: bearer });
        expect(response.status, path).toBe(500);
        expect(await response.text(), path).toContain(
          'a stored record in this list is not valid JSON: the evidence was changed outside restore-drill; run restore-drill evidence verify to name it',
        );
      }
      // Lists that leave it out still answer.
      expect(
        (await fetch(new URL('/api/runs?drill=billing-db-weekly', served.url), { headers: bearer }))
          .status,
      ).toBe(200);
    });

    it('answers 500 without details when the database is gone, and keeps serving', async () => {
      await served.store.close();
      const response = await fetch(new URL('/api/summary', served.url), { headers: bearer });
      expect(response.status).toBe(500);
      expect(await response.json()).toEqual({
        error: 'the server could not answer this request; the reason is in its log',
      });
      expect(
        (await fetch(new URL('/api/summary', served.url), { method: 'POST', headers: bearer }))
          .status,
      ).toBe(405);
    });
  },
);

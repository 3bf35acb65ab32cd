import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log/logger.js';
import { createAuthenticator } from '../../../src/report/server/auth.js';
import { startEvidenceServer } from '../../../src/report/server/server.js';
import {
  BASIC,
  HOSTILE_CAUSE,
  HOSTILE_ITEM,
  ODD_NAME_ITEM,
  TOKEN,
  serveFixture,
  type ServedEvidence,
} from './web-fixture.js';

// The web view in a real headless Chromium: what a compliance officer sees and
// clicks. With RD_SCREENSHOTS=1 the pages are also saved to docs/screenshots/.

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SCREENSHOTS = fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url));
const takeScreenshots = process.env.RD_SCREENSHOTS === '1';

/** The little of the page's window the callbacks below use (this project compiles without DOM types; they run in the browser). */
interface PageWindow {
  document: { cookie: string; querySelectorAll(selector: string): { length: number } };
  getComputedStyle(element: unknown): { backgroundColor: string };
}

describe('the web view in Chromium', () => {
  let served: ServedEvidence;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const dialogs: string[] = [];
  const at = (path: string) => new URL(path, served.url).toString();

  beforeAll(async () => {
    served = await serveFixture('pglite');
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    // Sign in as a person would: the address with ?token= once.
    await page.goto(at(`/?token=${encodeURIComponent(TOKEN)}`));
    await page.waitForURL(at('/'));
    if (takeScreenshots) await mkdir(SCREENSHOTS, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await served?.close();
  });

  /** Text of every row of the first table under the heading, one string per row. */
  const rowsOf = (selector: string) =>
    page
      .locator(selector)
      .evaluateAll((rows) =>
        rows.map((row) =>
          (row as unknown as { innerText: string }).innerText.replace(/\s+/g, ' ').trim(),
        ),
      );

  it('signs in with ?token=, keeps an HttpOnly cookie script cannot read, and drops the token from the address', async () => {
    expect(page.url()).toBe(at('/'));
    const cookies = await context.cookies();
    expect(cookies).toEqual([
      expect.objectContaining({
        name: 'rd_session',
        httpOnly: true,
        sameSite: 'Strict',
        path: '/',
      }),
    ]);
    expect(cookies[0]?.value).not.toContain(TOKEN);
    expect(await page.evaluate(() => (globalThis as unknown as PageWindow).document.cookie)).toBe(
      '',
    );
  });

  it('refuses a browser without credentials or with a wrong token', async () => {
    // Token only: with basic auth configured too, the browser would ask for a password (headless Chromium gives up instead).
    const tokenOnly = await startEvidenceServer({
      db: served.store.db,
      drills: served.fixture.drills,
      auth: createAuthenticator({ token: TOKEN }),
      log: silentLogger(),
      host: '127.0.0.1',
      port: 0,
    });
    const stranger = await browser.newContext();
    try {
      const tab = await stranger.newPage();
      const bare = await tab.goto(new URL('/', tokenOnly.url).toString());
      expect(bare?.status()).toBe(401);
      await expect(tab.locator('h1').textContent()).resolves.toBe('Sign-in needed');
      expect(await tab.locator('body').innerText()).not.toContain('billing-db-weekly');
      const wrong = await tab.goto(
        new URL('/runs?token=guessed-token-123456', tokenOnly.url).toString(),
      );
      expect(wrong?.status()).toBe(401);
      expect(await tab.locator('.callout').innerText()).toBe(
        'The credentials given were not accepted.',
      );
      expect(await stranger.cookies()).toEqual([]);
      // The same browser, no credentials, at the server that also takes a password.
      expect((await tab.request.get(at('/'))).status()).toBe(401);
    } finally {
      await stranger.close();
      await tokenOnly.close();
    }
  });

  it('lets a browser in with basic-auth credentials', async () => {
    const withPassword = await browser.newContext({
      httpCredentials: { username: BASIC.user, password: BASIC.password },
    });
    const wrongPassword = await browser.newContext({
      httpCredentials: { username: BASIC.user, password: 'not it at all' },
    });
    try {
      const ok = await (await withPassword.newPage()).goto(at('/runs'));
      expect(ok?.status()).toBe(200);
      const refused = await (await wrongPassword.newPage()).goto(at('/runs'));
      expect(refused?.status()).toBe(401);
    } finally {
      await withPassword.close();
      await wrongPassword.close();
    }
  });

  it('refuses a POST from the signed-in browser', async () => {
    const response = await page.request.post(at('/'), { form: { drill: 'x' } });
    expect(response.status()).toBe(405);
    expect(response.headers().allow).toBe('GET, HEAD');
  });

  it('shows every drill on the overview, never-passed and overdue first, each green, red or waived', async () => {
    await page.goto(at('/'));
    expect(await page.title()).toBe('Overview · restore-drill');
    const rows = await rowsOf('table.drills tbody tr');
    expect(rows.map((row) => row.split(' ').slice(0, 2).join(' '))).toEqual([
      'ATTENTION hr-archive-monthly',
      'ATTENTION uploads-weekly',
      'ATTENTION billing-db-weekly',
      'WAIVED crm-export-daily',
      'OK fileserver-nightly',
      'OK legacy-app',
    ]);
    expect(rows[0]).toContain('Never passed');
    expect(rows[1]).toContain('Overdue: no pass since');
    expect(rows[2]).toContain('Last run failed');
    expect(rows[2]).toContain('dba-team');
    const green = page.locator('tr[data-drill="fileserver-nightly"] .badge');
    expect(
      await green.evaluate(
        (element) =>
          (globalThis as unknown as PageWindow).getComputedStyle(element).backgroundColor,
      ),
    ).toBe('rgb(26, 127, 55)');
    const red = page.locator('tr[data-drill="billing-db-weekly"] .badge');
    expect(
      await red.evaluate(
        (element) =>
          (globalThis as unknown as PageWindow).getComputedStyle(element).backgroundColor,
      ),
    ).toBe('rgb(207, 34, 46)');
    if (takeScreenshots)
      await page.screenshot({ path: `${SCREENSHOTS}overview.png`, fullPage: true });
  });

  it('narrows the overview with the filter form: by owner, then by state', async () => {
    await page.goto(at('/'));
    await page.selectOption('select[name="owner"]', 'app-team');
    await Promise.all([page.waitForURL(/owner=app-team/), page.click('form.filters button')]);
    expect(
      await page
        .locator('table.drills tbody tr')
        .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-drill'))),
    ).toEqual(['uploads-weekly', 'crm-export-daily']);
    await page.selectOption('select[name="state"]', 'waived');
    await Promise.all([page.waitForURL(/state=waived/), page.click('form.filters button')]);
    expect(
      await page
        .locator('table.drills tbody tr')
        .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-drill'))),
    ).toEqual(['crm-export-daily']);
    // The form remembers the choices; Reset forgets them.
    expect(await page.locator('select[name="owner"]').inputValue()).toBe('app-team');
    await page.click('form.filters a.reset');
    expect(await page.locator('table.drills tbody tr').count()).toBe(6);
  });

  it('lists only failed runs when the verdict filter says failed, and one drill with the drill filter', async () => {
    await page.goto(at('/runs'));
    const everything = await page.locator('table.runs tbody tr').count();
    expect(everything).toBe(50);
    await page.selectOption('select[name="verdict"]', 'failed');
    await Promise.all([page.waitForURL(/verdict=failed/), page.click('form.filters button')]);
    const failed = await rowsOf('table.runs tbody tr');
    const expected = served.fixture.runs.filter((entry) => entry.record.verdict === 'failed');
    expect(failed).toHaveLength(expected.length);
    expect(failed.every((row) => row.includes(' failed '))).toBe(true);
    expect(await page.locator('.pager').innerText()).toContain(
      `Runs 1–${expected.length} of ${expected.length}`,
    );

    await page.selectOption('select[name="verdict"]', '');
    await page.selectOption('select[name="drill"]', 'billing-db-weekly');
    await Promise.all([
      page.waitForURL(/drill=billing-db-weekly/),
      page.click('form.filters button'),
    ]);
    const billing = await page.locator('table.runs tbody tr td:nth-child(2)').allInnerTexts();
    expect(billing).toEqual(Array(7).fill('billing-db-weekly'));
  });

  it('narrows by date range: runs from a day list only that day onwards', async () => {
    const day = served.fixture.failedRun.startedAt.slice(0, 10);
    await page.goto(at('/runs'));
    await page.fill('input[name="since"]', day);
    await page.fill('input[name="until"]', day);
    await Promise.all([page.waitForURL(/since=/), page.click('form.filters button')]);
    const started = await page.locator('table.runs tbody tr td:first-child').allInnerTexts();
    expect(started.length).toBeGreaterThan(0);
    expect(started.every((text) => text.startsWith(day))).toBe(true);
  });

  it('shows a bad filter as a one-line message naming the parameter', async () => {
    await page.goto(at('/runs'));
    await page.fill('input[name="since"]', 'last tuesday');
    const [response] = await Promise.all([
      page.waitForResponse(/\/runs\?/),
      page.click('form.filters button'),
    ]);
    expect(response.status()).toBe(400);
    expect(await page.locator('.callout').innerText()).toBe(
      "since: 'last tuesday' is not a duration or a date; expected e.g. 90d, 2026-01-01 or 2026-01-01T00:00:00Z",
    );
  });

  it('shows a drill page with its history, a duration trend chart and a pass/fail strip, and pages through history', async () => {
    await page.goto(at('/'));
    await Promise.all([
      page.waitForURL(/\/drills\/fileserver-nightly$/),
      page.click('a:has-text("fileserver-nightly")'),
    ]);
    expect(await page.locator('h1').innerText()).toBe('fileserver-nightly OK');
    const runs = served.fixture.runs.filter((entry) => entry.record.drill === 'fileserver-nightly');
    const chart = page.locator(
      'svg[aria-label="Restore plus verification time of fileserver-nightly"]',
    );
    await expect(chart.isVisible()).resolves.toBe(true);
    expect(await chart.locator('circle').count()).toBe(runs.length);
    expect(await chart.locator('line.target').count()).toBe(1);
    expect(await page.locator('svg.strip rect').count()).toBe(runs.length);
    expect(await page.locator('table.runs tbody tr').count()).toBe(runs.length);
    if (takeScreenshots) {
      await page.goto(at('/drills/fileserver-nightly?pageSize=12'));
      await page.screenshot({ path: `${SCREENSHOTS}drill.png`, fullPage: true });
    }
    await page.goto(at('/drills/fileserver-nightly?pageSize=15'));
    await Promise.all([page.waitForURL(/page=2/), page.click('.pager a[rel="next"]')]);
    expect(await page.locator('.pager span').first().innerText()).toBe(
      `Runs 16–30 of ${runs.length}`,
    );
  });

  it('shows a failed run with its failing check: expected against actual, and the findings naming the files', async () => {
    const run = served.fixture.failedRun;
    await page.goto(at('/drills/billing-db-weekly'));
    await Promise.all([
      page.waitForURL(new RegExp(`/runs/${run.runId}$`)),
      page.click(`table.runs a[href="/runs/${run.runId}"]`),
    ]);
    expect(await page.locator('.callout h3').innerText()).toBe(`Failed: ${run.cause}`);
    const failing = page.locator('tr#check-manifest');
    await expect(failing.isVisible()).resolves.toBe(true);
    expect((await failing.innerText()).replace(/\s+/g, ' ')).toBe(
      'manifest failed {"files":1284,"mismatched":0} {"files":1284,"mismatched":2} 2 of 1284 files differ from backup_manifest',
    );
    const findings = await rowsOf('tr.findings table.findings tbody tr');
    expect(findings[0]).toMatch(
      /^base\/16384\/2619 changed \{"sha256":"[0-9a-f]{64}"\} \{"sha256":"[0-9a-f]{64}"\}$/,
    );
    expect(findings[1]).toBe(
      'pg_wal/000000010000000000000003 truncated {"size":16777216} {"size":8388608}',
    );
    expect(
      await page
        .locator('tr.check-failed')
        .evaluate(
          (row) =>
            (globalThis as unknown as PageWindow).getComputedStyle(row.querySelector('td'))
              .backgroundColor,
        ),
    ).toBe('rgb(255, 235, 233)');
    // Timings per phase, host, version, config hash and the chain position are all on the page.
    const text = await page.locator('body').innerText();
    for (const expected of [
      'restore',
      'verify',
      'clean-up',
      'drill-runner-01',
      run.configHash,
      'prev_hash',
      'record_hash',
    ])
      expect(text).toContain(expected);
    if (takeScreenshots) await page.screenshot({ path: `${SCREENSHOTS}run.png`, fullPage: true });
  });

  it('shows the exact sample (seed, counts, first items) and links to every restored item', async () => {
    const run = served.fixture.sampledRun;
    await page.goto(at(`/runs/${run.runId}`));
    const text = await page.locator('body').innerText();
    expect(text).toContain(run.sample?.seed);
    expect(text).toContain('240 of 480');
    expect(await page.locator('pre').first().innerText()).toBe(
      (run.sample?.items ?? []).slice(0, 20).join('\n'),
    );
    await Promise.all([
      page.waitForURL(/\/items$/),
      page.click('a:has-text("all 240 restored items")'),
    ]);
    expect(await page.locator('table tbody tr').count()).toBe(200);
    await Promise.all([page.waitForURL(/page=2/), page.click('.pager a[rel="next"]')]);
    expect(await page.locator('table tbody tr').count()).toBe(40);
  });

  it('renders a <script> in a cause, a check detail and a finding as text, and runs no script', async () => {
    const run = served.fixture.hostileRun;
    await page.goto(at(`/runs/${run.runId}`));
    expect(await page.locator('.callout h3').innerText()).toBe(`Failed: ${HOSTILE_CAUSE}`);
    expect(await page.locator('tr#check-manifest td').nth(4).innerText()).toBe(HOSTILE_CAUSE);
    expect(await page.locator('table.findings code').first().innerText()).toBe(HOSTILE_ITEM);
    // A name that is not UTF-8 shows in its escaped form: no raw control character reaches the page.
    const codes = await page.locator('table.findings code').allInnerTexts();
    expect(codes).toContain(ODD_NAME_ITEM);
    expect(ODD_NAME_ITEM).toContain('bad\\xff\\xfe\\n\\x1b[2J');
    // eslint-disable-next-line no-control-regex -- finding control characters is the point
    expect(await page.locator('body').innerText()).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/u);
    await page.goto(at('/runs?drill=legacy-app'));
    expect(await page.locator('table.runs').innerText()).toContain(HOSTILE_CAUSE);
    expect(
      await page.evaluate(
        () =>
          (globalThis as unknown as PageWindow).document.querySelectorAll(
            'script, img, iframe, object',
          ).length,
      ),
    ).toBe(0);
    expect(dialogs).toEqual([]);
  });

  it('serves the JSON API to the signed-in browser', async () => {
    const response = await page.goto(at('/api/runs?verdict=failed&pageSize=2'));
    expect(response?.headers()['content-type']).toBe('application/json; charset=utf-8');
    const body = JSON.parse(await page.locator('body').innerText()) as {
      total: number;
      runs: { verdict: string }[];
    };
    expect(body.runs.map((run) => run.verdict)).toEqual(['failed', 'failed']);
  });
});

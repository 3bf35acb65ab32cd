import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listReviews } from '../../../src/evidence/reviews.js';
import { loadEvidenceSummary } from '../../../src/report/load-summary.js';
import { renderHtmlReport } from '../../../src/report/render-html.js';
import { TOKEN, serveFixture, type ServedEvidence } from './web-fixture.js';

// Web sign-off in a real headless Chromium: a reviewer signs in, signs off a
// failed run, and the run page and the report show it; a form posted from
// another origin, a request without the session's CSRF token, and the read-only
// token are refused, and nothing is recorded for them.

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'];
const DAY = 86_400_000;
const ALICE = { user: 'alice', password: 'alice-password-0123' };
const BOB = { user: 'bob', token: 'bob-token-0123456789abcdef' };

/** The little of the page's window the callbacks use (no DOM types in this project). */
interface PageWindow {
  document: { cookie: string };
}

describe('web sign-off in Chromium', () => {
  let served: ServedEvidence;
  let browser: Browser;
  let reviewer: BrowserContext;
  let page: Page;
  let attacker: Server;
  let attackerUrl: string;
  const at = (path: string) => new URL(path, served.url).toString();
  const origin = () => new URL(served.url).origin;
  const reviewsOf = (runId: string) => listReviews(served.store.db, [runId]);

  beforeAll(async () => {
    // Token only: a basic-auth challenge on a 401 makes headless Chromium give up on the page.
    served = await serveFixture('pglite', { token: TOKEN, reviewers: [ALICE, BOB] });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    reviewer = await browser.newContext();
    page = await reviewer.newPage();
    // Another origin on the same host (127.0.0.1, another port: same site, so the
    // SameSite cookie IS sent): a page that posts a sign-off form to the view at once.
    attacker = createServer((request, response) => {
      const target = new URL(request.url ?? '/', 'http://x').searchParams.get('target') ?? '';
      response.writeHead(200, { 'Content-Type': 'text/html' });
      response.end(`<!doctype html><body onload="document.forms[0].submit()">
<form method="post" action="${target}">
<input name="csrf" value="guessed"><input name="decision" value="accepted"><input name="note" value="forged">
</form></body>`);
    });
    attacker.listen(0, '127.0.0.1');
    await once(attacker, 'listening');
    attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`;
  });

  afterAll(async () => {
    await browser?.close();
    attacker?.close();
    await served?.close();
  });

  it('signs a reviewer in with the form: an HttpOnly SameSite=Strict session cookie, back on the run page', async () => {
    const runId = served.fixture.failedRun.runId;
    const unsigned = await page.goto(at(`/runs/${runId}`));
    expect(unsigned?.status()).toBe(401);
    await page
      .getByRole('link', { name: 'sign in with your user name and password or token' })
      .click();
    await page.waitForURL(at('/signin'));
    await page.goto(at(`/signin?next=${encodeURIComponent(`/runs/${runId}`)}`));
    await page.getByLabel('User name').fill(ALICE.user);
    await page.getByLabel('Password or token').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.locator('.callout').innerText()).resolves.toBe(
      'The user name and password or token were not accepted.',
    );
    expect(await reviewer.cookies()).toEqual([]);

    await page.getByLabel('User name').fill(ALICE.user);
    await page.getByLabel('Password or token').fill(ALICE.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(at(`/runs/${runId}`));
    expect(await reviewer.cookies()).toEqual([
      expect.objectContaining({
        name: 'rd_reviewer',
        httpOnly: true,
        sameSite: 'Strict',
        path: '/',
      }),
    ]);
    expect(await page.evaluate(() => (globalThis as unknown as PageWindow).document.cookie)).toBe(
      '',
    );
    await expect(page.locator('#reviews + p').innerText()).resolves.toBe(
      'Not reviewed: nobody has signed this run off.',
    );
  });

  it('signs off a failed run: recorded as the signed-in user via web, shown on the run page and in the report', async () => {
    const run = served.fixture.failedRun;
    await page.goto(at(`/runs/${run.runId}`));
    await page.getByLabel('Decision').selectOption('remediation');
    await page.getByLabel('Note').fill('two invoices changed after the backup; restore job fixed');
    await page.getByLabel('Ticket').fill('OPS-42');
    await page.getByRole('button', { name: 'Sign off' }).click();
    await page.waitForURL(at(`/runs/${run.runId}#reviews`));
    const rows = await page.locator('table.reviews tbody tr').allInnerTexts();
    expect(rows.map((row) => row.split('\t').slice(1))).toEqual([
      [
        'alice',
        'remediation',
        'two invoices changed after the backup; restore job fixed',
        'OPS-42',
        'web',
        expect.any(String),
      ],
    ]);

    const [review] = await reviewsOf(run.runId);
    expect(review).toMatchObject({
      by: 'alice',
      via: 'web',
      decision: 'remediation',
      ticket: 'OPS-42',
      drill: run.drill,
      verdict: 'failed',
      reviewedAt: served.fixture.now.toISOString(),
    });
    const summary = await loadEvidenceSummary(served.store.db, served.fixture.drills, {
      since: new Date(served.fixture.now.getTime() - 60 * DAY),
      now: served.fixture.now,
      maxUnreviewedMs: 7 * DAY,
    });
    expect(summary.reviews?.failures.find((failure) => failure.runId === run.runId)).toMatchObject({
      review: { by: 'alice', decision: 'remediation', ticket: 'OPS-42', via: 'web' },
    });
    expect(summary.unreviewedFailures?.map((failure) => failure.runId)).not.toContain(run.runId);
    expect(renderHtmlReport(summary)).toContain('<b>remediation</b> by alice (web view)');
  });

  it('refuses a sign-off form posted from another origin, and records nothing', async () => {
    const runId = served.fixture.failedRun.runId;
    const before = (await reviewsOf(runId)).length;
    const target = at(`/runs/${runId}/reviews`);
    const refused = page.waitForResponse((response) => response.url() === target);
    await page.goto(`${attackerUrl}?target=${encodeURIComponent(target)}`);
    const response = await refused;
    expect(response.status()).toBe(403);
    expect(await response.text()).toContain(
      `the form was sent from ${attackerUrl.slice(0, -1)}, not from this server`,
    );
    expect(await reviewsOf(runId)).toHaveLength(before);
  });

  it('refuses a foreign Origin even with the session’s CSRF token, and a missing or wrong token from the right origin', async () => {
    const runId = served.fixture.failedRun.runId;
    const before = (await reviewsOf(runId)).length;
    await page.goto(at(`/runs/${runId}`));
    const csrf = await page.locator('form.signoff input[name=csrf]').inputValue();
    const post = (headers: Record<string, string>, form: Record<string, string>) =>
      page.request.post(at(`/runs/${runId}/reviews`), { headers, form, maxRedirects: 0 });
    const fields = { decision: 'accepted', note: 'should not land' };

    const foreign = await post({ Origin: 'http://evil.example' }, { ...fields, csrf });
    expect(foreign.status()).toBe(403);
    const noOrigin = await post({}, { ...fields, csrf });
    expect(noOrigin.status()).toBe(403);
    expect(await noOrigin.text()).toContain('the request names no Origin or Referer');
    const noToken = await post({ Origin: origin() }, fields);
    expect(noToken.status()).toBe(403);
    expect(await noToken.text()).toContain('CSRF token is missing or not this session');
    const wrongToken = await post({ Origin: origin() }, { ...fields, csrf: `${csrf}x` });
    expect(wrongToken.status()).toBe(403);
    expect(await reviewsOf(runId)).toHaveLength(before);

    // The right origin and token: the same request is accepted (so the refusals above were the checks).
    const accepted = await post({ Origin: origin() }, { ...fields, note: 'accepted by API', csrf });
    expect(accepted.status()).toBe(303);
    expect(accepted.headers().location).toBe(`/runs/${runId}#reviews`);
    expect((await reviewsOf(runId)).map((review) => review.note).at(-1)).toBe('accepted by API');
  });

  it('answers 404 for an unknown run and 400 naming the field for bad input, recording nothing', async () => {
    const runId = served.fixture.failedRun.runId;
    await page.goto(at(`/runs/${runId}`));
    const csrf = await page.locator('form.signoff input[name=csrf]').inputValue();
    const before = (await listReviews(served.store.db)).length;
    const post = (path: string, form: Record<string, string>) =>
      page.request.post(at(path), { headers: { Origin: origin() }, form, maxRedirects: 0 });

    const unknown = await post('/runs/00000000-0000-4000-8000-000000000000/reviews', {
      csrf,
      decision: 'accepted',
      note: 'no such run',
    });
    expect(unknown.status()).toBe(404);
    expect(await unknown.text()).toContain(
      'no run &#39;00000000-0000-4000-8000-000000000000&#39; in the evidence',
    );
    const badDecision = await post(`/runs/${runId}/reviews`, {
      csrf,
      decision: 'maybe',
      note: 'x',
    });
    expect(badDecision.status()).toBe(400);
    expect(await badDecision.text()).toContain(
      'decision: expected one of accepted, remediation, risk-accepted',
    );
    const emptyNote = await post(`/runs/${runId}/reviews`, {
      csrf,
      decision: 'accepted',
      note: '  ',
    });
    expect(emptyNote.status()).toBe(400);
    expect(await emptyNote.text()).toContain(
      'note: expected a note saying what was found and decided',
    );
    const extra = await post(`/runs/${runId}/reviews`, {
      csrf,
      decision: 'accepted',
      note: 'x',
      by: 'mallory',
    });
    expect(extra.status()).toBe(400);
    expect(await extra.text()).toContain('by: not a field of this form');
    expect(await listReviews(served.store.db)).toHaveLength(before);
  });

  it('refuses the read-only token as a reviewer: 403 with why, whether as a session or typed into the sign-in form', async () => {
    const runId = served.fixture.failedRun.runId;
    const before = (await reviewsOf(runId)).length;
    const readOnly = await browser.newContext();
    try {
      const tab = await readOnly.newPage();
      await tab.goto(at(`/?token=${encodeURIComponent(TOKEN)}`));
      await tab.waitForURL(at('/'));
      const runPage = await tab.goto(at(`/runs/${runId}`));
      expect(runPage?.status()).toBe(200);
      expect(await tab.locator('form.signoff').count()).toBe(0);
      const post = await tab.request.post(at(`/runs/${runId}/reviews`), {
        headers: { Origin: origin() },
        form: { decision: 'accepted', note: 'token holder', csrf: 'none' },
        maxRedirects: 0,
      });
      expect(post.status()).toBe(403);
      expect(await post.text()).toContain(
        'read-only credentials cannot sign off runs: sign in as a reviewer (serve.auth.reviewers) at /signin',
      );
      const bearer = await fetch(at(`/runs/${runId}/reviews`), {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TOKEN}`,
          origin: origin(),
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'decision=accepted&note=bearer',
      });
      expect(bearer.status).toBe(403);

      await tab.goto(at('/signin'));
      await tab.getByLabel('User name').fill('anyone');
      await tab.getByLabel('Password or token').fill(TOKEN);
      const [signIn] = await Promise.all([
        tab.waitForResponse((response) => response.url() === at('/signin')),
        tab.getByRole('button', { name: 'Sign in' }).click(),
      ]);
      expect(signIn.status()).toBe(403);
      expect(await tab.locator('.callout').innerText()).toContain(
        'the read-only credential (serve.auth.token or serve.auth.basic) cannot sign off runs',
      );
      expect((await readOnly.cookies()).map((cookie) => cookie.name)).toEqual(['rd_session']);
    } finally {
      await readOnly.close();
    }
    expect(await reviewsOf(runId)).toHaveLength(before);
  });

  it('signs a token reviewer in and records their name; signing out ends the session', async () => {
    const context = await browser.newContext();
    try {
      const tab = await context.newPage();
      const runId = served.fixture.failedRun.runId;
      await tab.goto(at(`/signin?next=${encodeURIComponent(`/runs/${runId}`)}`));
      await tab.getByLabel('User name').fill(BOB.user);
      await tab.getByLabel('Password or token').fill(BOB.token);
      await tab.getByRole('button', { name: 'Sign in' }).click();
      await tab.waitForURL(at(`/runs/${runId}`));
      await tab.getByLabel('Decision').selectOption('risk-accepted');
      await tab.getByLabel('Note').fill('accepted until the vendor upgrade');
      await tab.getByRole('button', { name: 'Sign off' }).click();
      await tab.waitForURL(at(`/runs/${runId}#reviews`));
      expect((await reviewsOf(runId)).at(-1)).toMatchObject({
        by: 'bob',
        ticket: null,
        via: 'web',
      });
      await tab.getByRole('button', { name: 'Sign out' }).click();
      await tab.waitForURL(at('/'));
      expect((await tab.goto(at(`/runs/${runId}`)))?.status()).toBe(401);
    } finally {
      await context.close();
    }
  });

  // Last: it leaves bob throttled, and the fixture's clock never moves on.
  it('answers 429 with Retry-After once a user name was refused five times in a minute, even with the right token', async () => {
    const context = await browser.newContext();
    try {
      const tab = await context.newPage();
      await tab.goto(at('/signin'));
      for (let attempt = 0; attempt < 5; attempt++) {
        await tab.getByLabel('User name').fill(BOB.user);
        await tab.getByLabel('Password or token').fill(`wrong-${attempt}`);
        const [refused] = await Promise.all([
          tab.waitForResponse((response) => response.url() === at('/signin')),
          tab.getByRole('button', { name: 'Sign in' }).click(),
        ]);
        expect(refused.status()).toBe(401);
      }
      await tab.getByLabel('User name').fill(BOB.user);
      await tab.getByLabel('Password or token').fill(BOB.token);
      const [throttled] = await Promise.all([
        tab.waitForResponse((response) => response.url() === at('/signin')),
        tab.getByRole('button', { name: 'Sign in' }).click(),
      ]);
      expect(throttled.status()).toBe(429);
      expect(throttled.headers()['retry-after']).toBe('60');
      expect(await tab.locator('body').innerText()).toContain(
        'too many refused sign-ins for this user name or from this address: try again in 60 s',
      );
      expect(await context.cookies()).toEqual([]);

      // Another reviewer from the same address still signs in.
      await tab.goto(at('/signin'));
      await tab.getByLabel('User name').fill(ALICE.user);
      await tab.getByLabel('Password or token').fill(ALICE.password);
      await tab.getByRole('button', { name: 'Sign in' }).click();
      await tab.waitForURL(at('/'));
      expect((await context.cookies()).map((cookie) => cookie.name)).toEqual(['rd_reviewer']);
    } finally {
      await context.close();
    }
  });
});

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeHtml, html } from '../../src/report/html.js';
import { renderHtmlReport } from '../../src/report/render-html.js';
import { summarizeRecords } from '../../src/report/drill-summary.js';
import { makeRecord } from './make-record.js';
import { HOSTILE, NOW, reportFixture } from './report-fixture.js';

/**
 * Every tag in the page. Text and attribute values escape < and >, so each
 * literal <...> span is a real tag: this is what a browser would parse as markup.
 */
function tagsOf(markup: string): string[] {
  return [...markup.matchAll(/<[^>]*>/g)].map((match) => match[0]);
}

/** Every attribute that can load something, with its value. */
function referenceAttributes(markup: string): string[] {
  return tagsOf(markup).flatMap((tag) =>
    [
      ...tag.matchAll(
        /\s(?:src|href|xlink:href|action|formaction|poster|data|srcset|background)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)/gi,
      ),
    ].map((match) => match[1] ?? ''),
  );
}

describe('HTML report', () => {
  const { summary } = reportFixture();
  const page = renderHtmlReport(summary);

  it('escapes drill text: a <script> in a cause, description, owner or path never becomes markup', () => {
    const tagNames = new Set(
      tagsOf(page).map((tag) => /^<\/?([a-z0-9!-]+)/i.exec(tag)?.[1]?.toLowerCase()),
    );
    expect(
      [...tagNames].filter(
        (name) =>
          name === undefined || /^(script|img|iframe|object|embed|link|a|form|base)$/.test(name),
      ),
    ).toEqual([]);
    expect(page).not.toContain('<b>team</b>');
    expect(page).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(page).toContain('ops &lt;b&gt;team&lt;/b&gt;');
    expect(page).toContain('/backups/&lt;evil&gt;&amp;&quot;x&quot;.tar');
    // No attribute was opened by the text: the only on* handlers would come from it.
    expect(tagsOf(page).filter((tag) => /\son\w+\s*=/i.test(tag))).toEqual([]);
  });

  it('refers to nothing outside the file: no src/href, no remote URL, no @import or url(), and a CSP that forbids loading', () => {
    expect(referenceAttributes(page)).toEqual([]);
    expect(
      tagsOf(page).filter((tag) => /(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\//i.test(tag)),
    ).toEqual([]);
    expect(page).not.toMatch(/@import|url\(|<link|<iframe|<object|<embed/i);
    expect(page).toContain(`content="default-src 'none'; style-src 'unsafe-inline'"`);
  });

  it('shows findings first, never-passed and overdue drills leading', () => {
    const findings = page.slice(page.indexOf('<h2>Findings</h2>'), page.indexOf('<h2>Drills</h2>'));
    const order = ['Never passed', 'Overdue', 'Last run failed', 'Waiver expired'].map((label) =>
      findings.indexOf(`<td>${label}</td>`),
    );
    expect(order.every((index) => index >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(page.indexOf('<h2>Findings</h2>')).toBeLessThan(page.indexOf('<h2>Drills</h2>'));
  });

  it('renders a section per drill, page-broken for print, with charts for drills that ran and a note for one that did not', () => {
    expect(page.match(/<section class="drill">/g)).toHaveLength(6);
    expect(page).toMatch(/@media print\s*{[^@]*section\.drill\s*{\s*break-before: page;/);
    const noRuns = page.slice(
      page.indexOf('<h2>no-runs'),
      page.indexOf('</section>', page.indexOf('<h2>no-runs')),
    );
    expect(noRuns).toContain('No runs in this period.');
    expect(noRuns).toContain('<span class="bad">never</span>');
    const passing = page.slice(
      page.indexOf('<h2>all-passing'),
      page.indexOf('</section>', page.indexOf('<h2>all-passing')),
    );
    expect(passing.match(/<circle /g)).toHaveLength(30);
    expect(passing.match(/<rect x=/g)).toHaveLength(30);
    expect(passing).toContain('RTO target 15m');
    expect(passing).toContain('100%');
  });

  it('shows the control matrix, both waivers with their status, and the chain head', () => {
    expect(page).toContain(
      '<td>ISO27001:A.8.13</td><td><span class="badge red">ATTENTION</span></td>',
    );
    expect(page).toContain('<td>OWN-7</td><td><span class="badge waived">WAIVED</span></td>');
    expect(page).toMatch(
      /<span class="badge active">active<\/span> <span class="muted">60 days left<\/span>/,
    );
    expect(page).toContain('<span class="badge expired">expired</span>');
    expect(page).toContain(`seq 42, record hash <span class="hash">${'ab'.repeat(32)}</span>`);
  });

  it('renders a report with no drills run and no findings', () => {
    const empty = renderHtmlReport(
      summarizeRecords(
        [{ name: 'adhoc' }],
        [makeRecord({ drill: 'adhoc', at: '2025-01-01T00:00:00Z' })],
        { now: NOW, since: new Date('2026-01-01T00:00:00Z'), until: NOW },
      ),
    );
    expect(empty).toContain('No runs in this period.');
    expect(empty).toContain('No findings');
    expect(empty).toContain('No drill names a control');
  });

  it('escapes each of & < > " and \' and leaves SafeHtml alone', () => {
    expect(escapeHtml(`&<>"'`)).toBe('&amp;&lt;&gt;&quot;&#39;');
    expect(html`<p title="${'"x"'}">${['<a>', html`<i>ok</i>`, null, false, 3]}</p>`.html).toBe(
      '<p title="&quot;x&quot;">&lt;a&gt;<i>ok</i>3</p>',
    );
  });
});

describe('HTML report in a real Chromium', () => {
  let browser: Browser;
  let dir: string;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium' });
    dir = await mkdtemp(join(tmpdir(), 'restore-drill-report-'));
  });
  afterAll(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('loads with no request but the file itself, runs no script, shows the hostile cause as text, and prints one page per drill', async () => {
    const { summary } = reportFixture();
    const file = join(dir, 'report.html');
    await writeFile(file, renderHtmlReport(summary));
    const page = await browser.newPage();
    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    const dialogs: string[] = [];
    page.on('dialog', async (dialog) => {
      dialogs.push(dialog.message());
      await dialog.dismiss();
    });
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    expect(requests).toEqual([pathToFileURL(file).href]);
    expect(dialogs).toEqual([]);
    expect(await page.locator('script, img, iframe, link').count()).toBe(0);
    const failing = page.locator('section.drill', {
      has: page.locator('h2', { hasText: /^failing/ }),
    });
    await expect(
      failing.locator('dd').filter({ hasText: 'alert("x")' }).first().textContent(),
    ).resolves.toContain(HOSTILE);
    expect(await page.locator('section.drill svg.chart').count()).toBe(6);

    await page.emulateMedia({ media: 'print' });
    const pdf = await page.pdf({ format: 'A4' });
    const pages = pdf.toString('latin1').match(/\/Type\s*\/Page[^s]/g) ?? [];
    // The overview, then each of the six drills starting on a page of its own.
    expect(pages.length).toBeGreaterThanOrEqual(7);
    await page.close();
  });
});

import { VERSION } from '../../../version.js';
import { html, trusted, type HtmlValue, type SafeHtml } from '../../html.js';
import { STYLE } from '../../render-html.js';

// The frame of every page: the report's stylesheet (so a page and the printed
// report read alike) plus what a browsable view needs, a top navigation, and no
// script or external reference of any kind.

const WEB_STYLE = `
body { max-width: 1280px; }
a { color: #0969da; } a:hover { text-decoration: underline; }
nav.top { display: flex; gap: 18px; align-items: baseline; border-bottom: 1px solid var(--line); padding-bottom: 8px; margin-bottom: 14px; }
nav.top .brand { font-weight: 700; color: #1f2328; text-decoration: none; margin-right: 8px; }
nav.top a.section { text-decoration: none; font-weight: 600; padding-bottom: 6px; }
nav.top a.current { color: #1f2328; border-bottom: 2px solid #fd8c73; }
nav.top .right { margin-left: auto; font-size: 12px; }
form.filters { display: flex; flex-wrap: wrap; gap: 8px 12px; align-items: flex-end; background: #f6f8fa; border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; margin: 10px 0 14px; }
form.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 2px; }
form.filters input, form.filters select { font: inherit; font-size: 13px; padding: 3px 6px; border: 1px solid var(--line); border-radius: 4px; min-width: 120px; background: #fff; color: #1f2328; }
form.filters button { font: inherit; font-size: 13px; padding: 4px 16px; border-radius: 6px; border: 1px solid #1a7f37; background: #1f883d; color: #fff; font-weight: 600; cursor: pointer; }
form.filters .reset { font-size: 13px; padding-bottom: 4px; }
.pager { display: flex; gap: 14px; align-items: center; margin: 8px 0 16px; font-size: 13px; }
pre { white-space: pre-wrap; word-break: break-all; background: #f6f8fa; padding: 6px 8px; border-radius: 4px; font-size: 12px; margin: 2px 0; }
tr.not-passed td { background: #fff8f8; }
tr.check-failed td { background: #ffebe9; }
tr.findings td { background: #fff; padding-left: 24px; }
table.findings { margin: 2px 0 6px; font-size: 12px; } table.findings th { background: #fff; color: var(--muted); font-weight: 600; }
.callout { border: 1px solid var(--line); border-left: 4px solid var(--red); border-radius: 6px; padding: 8px 12px; margin: 10px 0; background: #fff8f8; }
.callout.ok { border-left-color: var(--green); background: #f6fff8; }
.callout h3 { margin: 0 0 4px; }
.phase-legend { font-size: 12px; color: var(--muted); } .phase-legend span { margin-right: 14px; white-space: nowrap; }
.two-col { display: grid; grid-template-columns: 1fr 1fr; gap: 0 32px; } @media (max-width: 800px) { .two-col { grid-template-columns: 1fr; } }
.small { font-size: 12px; }
td.nowrap, th.nowrap { white-space: nowrap; }
td.strip-cell { min-width: 120px; }
footer { margin-top: 32px; border-top: 1px solid var(--line); padding-top: 8px; font-size: 12px; color: var(--muted); }
`;

/** Which top-level section a page belongs to (highlighted in the navigation). */
export type Section = 'overview' | 'runs' | null;

/** A whole HTML document around `body`. */
export function page(title: string, section: Section, body: HtmlValue): string {
  const link = (href: string, label: string, name: Section) =>
    html`<a class="section${section === name ? ' current' : ''}" href="${href}">${label}</a>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<link rel="icon" href="data:,">
<title>${title} · restore-drill</title>
<style>${trusted(STYLE)}${trusted(WEB_STYLE)}</style>
</head>
<body>
<nav class="top"><a class="brand" href="/">restore-drill evidence</a>${link('/', 'Overview', 'overview')}${link('/runs', 'Runs', 'runs')}<span class="right muted">read-only view</span></nav>
${body}
<footer>restore-drill ${VERSION} · read-only: nothing on these pages can change the run evidence (a signed-in reviewer can only append a sign-off) · times in UTC</footer>
</body>
</html>
`.html;
}

/** An address with its query, values encoded; empty values left out. */
export function href(
  path: string,
  params: Record<string, string | number | readonly string[] | undefined | null> = {},
): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) for (const item of value) query.append(key, String(item));
    else query.append(key, String(value));
  }
  const text = query.toString();
  return text === '' ? path : `${path}?${text}`;
}

/** `/drills/NAME`, the name encoded. */
export function drillHref(name: string): string {
  return `/drills/${encodeURIComponent(name)}`;
}

/** `/runs/ID`. */
export function runHref(runId: string): string {
  return `/runs/${encodeURIComponent(runId)}`;
}

/** A time to the second, in UTC. */
export function exactTime(iso: string): string {
  const time = Date.parse(iso);
  return Number.isNaN(time)
    ? iso
    : `${new Date(time).toISOString().replace('T', ' ').slice(0, 19)} UTC`;
}

/** An error page: the status and the one-line reason. */
export function errorPage(status: number, title: string, message: string): string {
  return page(
    title,
    null,
    html`<h1>${title}</h1><p class="callout">${message}</p><p><a href="/">Back to the overview</a></p><p class="muted small">HTTP ${status}</p>`,
  );
}

/** The page a browser sees without valid credentials. */
export function signInPage(
  reason: 'missing' | 'wrong',
  schemes: readonly string[],
  reviewers = false,
): string {
  const how: SafeHtml[] = [];
  if (reviewers)
    how.push(
      html`<li>Reviewers: <a href="/signin">sign in with your user name and password or token</a>.</li>`,
    );
  if (schemes.includes('token')) {
    how.push(
      html`<li>Open the address you were given, ending in <code>?token=…</code>, once; your browser keeps the sign-in until it is closed.</li>`,
    );
  }
  if (schemes.includes('basic'))
    how.push(
      html`<li>Sign in with the user name and password you were given (reload this page to be asked).</li>`,
    );
  const lead =
    reason === 'wrong'
      ? 'The credentials given were not accepted.'
      : 'This view of the restore evidence needs credentials.';
  return page(
    'Sign-in needed',
    null,
    html`<h1>Sign-in needed</h1><p class="callout">${lead}</p><ul>${how}</ul><p class="muted">Ask whoever runs <code>restore-drill serve</code> for access.</p>`,
  );
}

/** `/signin`: the reviewers' sign-in form (user name and password or token). */
export function reviewerSignInPage(options: { next: string; refused?: boolean }): string {
  return page(
    'Reviewer sign-in',
    null,
    html`<h1>Reviewer sign-in</h1>
${options.refused ? html`<p class="callout">The user name and password or token were not accepted.</p>` : null}
<p>Reviewers (<code>serve.auth.reviewers</code>) sign in here to sign off runs. The read-only token cannot sign off.</p>
<form method="post" action="/signin" class="signin">
<input type="hidden" name="next" value="${options.next}">
<p><label>User name <input name="user" autocomplete="username" required></label></p>
<p><label>Password or token <input name="secret" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Sign in</button></p>
</form>`,
  );
}

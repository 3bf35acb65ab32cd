import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Kysely } from 'kysely';
import type { Database } from '../../evidence/database.js';
import { EvidenceError } from '../../evidence/errors.js';
import { recordReview } from '../../evidence/reviews.js';
import { getRun } from '../../evidence/runs.js';
import type { Logger } from '../../log/logger.js';
import type { SummaryDrill } from '../drill-summary.js';
import { html } from '../html.js';
import { CLEAR_SESSION_COOKIE, type Authenticator } from './auth.js';
import { errorPage, page, reviewerSignInPage, signInPage } from './pages/layout.js';
import { BadRequest, RUN_ID } from './query.js';
import {
  CLEAR_REVIEWER_COOKIE,
  Forbidden,
  ReviewerSessions,
  parseForm,
  readForm,
  requireCsrf,
  requireSameOrigin,
  signInFormSchema,
  signOutFormSchema,
  signoffFormSchema,
} from './reviewers.js';
import { dispatch, isApiPath, NotFound, type Reply } from './routes.js';
import type { Reviewer } from './serve-config.js';

// node:http and nothing else: every request is a GET or HEAD, authenticated,
// answered from the evidence through a read-only session, with headers that
// keep the page to itself (no script, no framing, no caching, no referrer to
// other sites). The one exception: with reviewers configured, a signed-in
// reviewer POSTs a sign-off (and signs in and out); see reviewers.ts.

/** Sent with every response. `form-action` does not fall back to `default-src`, so it is named. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  // same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on a form POST,
  // and the sign-off form is checked against its Origin. Other sites still get no referrer.
  'Referrer-Policy': 'same-origin',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

const CONTENT_TYPES = {
  html: 'text/html; charset=utf-8',
  json: 'application/json; charset=utf-8',
} as const;

/** How long in-flight requests get to finish on shutdown before their connections are cut. */
const DRAIN_MS = 5_000;

/** What the server reads from, whom it lets in, and where it listens. */
export interface EvidenceServerOptions {
  db: Kysely<Database>;
  drills: readonly SummaryDrill[];
  auth: Authenticator;
  log: Logger;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The clock pages speak for (tests fix it); the current time otherwise. */
  now?: (() => Date) | undefined;
  /** Who may sign off runs (`serve.auth.reviewers`); none: the view is read-only throughout. */
  reviewers?: readonly Reviewer[] | undefined;
}

/** A listening server. */
export interface EvidenceServer {
  /** `http://host:port/`. */
  url: string;
  port: number;
  /** Stops accepting, lets requests in flight finish (up to a few seconds), then closes. Idempotent. */
  close(): Promise<void>;
}

/** Starts the read-only web view; rejects with a one-line error when the address cannot be bound. */
export async function startEvidenceServer(options: EvidenceServerOptions): Promise<EvidenceServer> {
  const sessions = new ReviewerSessions(options.reviewers ?? [], options.now ?? (() => new Date()));
  const server = createServer((request, response) => {
    handle(request, response, options, sessions).catch((error: unknown) => {
      options.log.error({ err: error }, 'web view: request failed after the response began');
      response.destroy();
    });
  });
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  try {
    server.listen(options.port, options.host);
    await once(server, 'listening');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'EADDRINUSE'
        ? 'the address is already in use'
        : code === 'EADDRNOTAVAIL'
          ? 'no such address on this machine'
          : code === 'EACCES'
            ? 'permission denied'
            : (error as Error).message;
    throw new Error(`cannot listen on ${options.host}:${options.port}: ${reason}`, {
      cause: error,
    });
  }
  const port = (server.address() as AddressInfo).port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  let closing: Promise<void> | undefined;
  return { url: `http://${host}:${port}/`, port, close: () => (closing ??= closeServer(server)) };
}

async function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), DRAIN_MS);
  try {
    await closed;
  } finally {
    clearTimeout(timer);
  }
}

function send(
  request: IncomingMessage,
  response: ServerResponse,
  reply: Reply,
  headers: Record<string, string | string[]> = {},
): void {
  const body = Buffer.from(reply.body, 'utf8');
  response.writeHead(reply.status, {
    ...SECURITY_HEADERS,
    'Content-Type': CONTENT_TYPES[reply.type],
    'Content-Length': String(body.length),
    ...headers,
  });
  response.end(request.method === 'HEAD' ? undefined : body);
}

/** An error as the route's kind of response: a JSON `{ error }` under /api/, a page elsewhere. */
function errorReply(api: boolean, status: number, title: string, message: string): Reply {
  return api
    ? { status, type: 'json', body: `${JSON.stringify({ error: message })}\n` }
    : { status, type: 'html', body: errorPage(status, title, message) };
}

const TITLES: Record<number, string> = {
  400: 'Bad request',
  401: 'Sign-in needed',
  403: 'Forbidden',
  413: 'Too large',
  429: 'Too many tries',
  404: 'Not found',
  405: 'Method not allowed',
  500: 'Server error',
};

async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  options: EvidenceServerOptions,
  sessions: ReviewerSessions,
): Promise<void> {
  const started = performance.now();
  const { log } = options;
  let url: URL;
  try {
    url = new URL(request.url ?? '/', 'http://localhost');
  } catch {
    send(
      request,
      response,
      errorReply(false, 400, TITLES[400] as string, 'the request address is not a valid URL'),
    );
    return;
  }
  const api = isApiPath(url.pathname);
  const done = (status: number) =>
    log.debug(
      {
        method: request.method,
        path: url.pathname,
        status,
        ms: Math.round(performance.now() - started),
      },
      'web view request',
    );

  if (request.method === 'POST' && sessions.enabled && isReviewerPost(url.pathname)) {
    let reply: PostReply;
    try {
      reply = await handleReviewerPost(request, url, options, sessions);
    } catch (error) {
      reply = { reply: postFailureReply(error, log) };
    }
    send(request, response, reply.reply, reply.headers);
    done(reply.reply.status);
    return;
  }

  if (request.method !== 'GET' && request.method !== 'HEAD') {
    send(
      request,
      response,
      errorReply(
        api,
        405,
        TITLES[405] as string,
        `${request.method ?? 'this method'} is not allowed: the evidence is read-only; use GET`,
      ),
      { Allow: 'GET, HEAD' },
    );
    done(405);
    return;
  }

  if (sessions.enabled && url.pathname === '/signin') {
    const next = url.searchParams.get('next');
    send(request, response, {
      status: 200,
      type: 'html',
      body: reviewerSignInPage({ next: next !== null && isLocalPath(next) ? next : '/' }),
    });
    done(200);
    return;
  }

  const reviewer = sessions.of(request);
  const auth = reviewer ? ({ kind: 'ok' } as const) : options.auth.check(request, url);
  if (auth.kind === 'refused') {
    log.warn(
      { path: url.pathname, reason: auth.reason, remote: request.socket.remoteAddress },
      'web view: request without valid credentials refused',
    );
    const headers: Record<string, string | string[]> = { 'WWW-Authenticate': auth.challenges };
    if (auth.clearCookie) headers['Set-Cookie'] = CLEAR_SESSION_COOKIE;
    const message = auth.reason === 'missing' ? 'credentials required' : 'credentials not accepted';
    send(
      request,
      response,
      api
        ? errorReply(true, 401, '', message)
        : {
            status: 401,
            type: 'html',
            body: signInPage(auth.reason, options.auth.schemes, sessions.enabled),
          },
      headers,
    );
    done(401);
    return;
  }
  if (auth.kind === 'token-accepted' && !api) {
    // A page, not a redirect: a SameSite=Strict cookie is not sent on a redirect that began on
    // another site (a link in a mail), but it is on a navigation this page starts itself.
    const body = page(
      'Signed in',
      null,
      html`<meta http-equiv="refresh" content="0; url=${auth.location}"><h1>Signed in</h1><p><a href="${auth.location}">Continue to the evidence</a></p>`,
    );
    send(request, response, { status: 200, type: 'html', body }, { 'Set-Cookie': auth.setCookie });
    done(200);
    return;
  }

  // `token` is a credential, not a filter: the routes never see it.
  url.searchParams.delete('token');
  let reply: Reply;
  try {
    reply = await dispatch({
      db: options.db,
      drills: options.drills,
      url,
      now: options.now?.() ?? new Date(),
      signoff: { enabled: sessions.enabled, reviewer },
    });
  } catch (error) {
    reply = failureReply(error, api, log);
  }
  send(
    request,
    response,
    reply,
    auth.kind === 'token-accepted' ? { 'Set-Cookie': auth.setCookie } : {},
  );
  done(reply.status);
}

function failureReply(error: unknown, api: boolean, log: Logger): Reply {
  if (error instanceof BadRequest)
    return errorReply(api, error.status, TITLES[error.status] ?? 'Error', error.message);
  if (error instanceof EvidenceError && error.code === 'ambiguous-run-id')
    return errorReply(api, 400, TITLES[400] as string, `run id: ${error.message}`);
  if (error instanceof EvidenceError && error.code === 'corrupt-record') {
    // Said plainly: a reviewer must learn the evidence was changed, not see a generic error.
    log.error({ err: error.message }, 'web view: stored evidence is corrupt');
    return errorReply(api, 500, 'Evidence damaged', error.message);
  }
  if ((error as { code?: unknown }).code === '22P02' && /json/i.test((error as Error).message)) {
    // A list reads fields out of the stored records in SQL: one that is not JSON fails the whole query.
    log.error({ err: (error as Error).message }, 'web view: a stored record is not JSON');
    return errorReply(
      api,
      500,
      'Evidence damaged',
      'a stored record in this list is not valid JSON: the evidence was changed outside restore-drill; run restore-drill evidence verify to name it',
    );
  }
  log.error({ err: error }, 'web view: request failed');
  return errorReply(
    api,
    500,
    TITLES[500] as string,
    'the server could not answer this request; the reason is in its log',
  );
}

/** A reply to a POST, with the headers it sets (a cookie, a redirect). */
interface PostReply {
  reply: Reply;
  headers?: Record<string, string | string[]>;
}

const SIGNOFF_PATH = /^\/runs\/([^/]+)\/reviews$/;

/** The only addresses a POST may go to, and only with reviewers configured. */
function isReviewerPost(path: string): boolean {
  return path === '/signin' || path === '/signout' || SIGNOFF_PATH.test(path);
}

/** A path on this server (never `//host`, which a browser takes for another site). */
function isLocalPath(path: string): boolean {
  return /^\/(?!\/)[^\\\s]*$/.test(path) && path.length <= 2000;
}

function redirect(location: string, headers: Record<string, string> = {}): PostReply {
  return {
    reply: {
      status: 303,
      type: 'html',
      body: page('Done', null, html`<p><a href="${location}">Continue</a></p>`),
    },
    headers: { Location: location, ...headers },
  };
}

/**
 * Sign-in, sign-out and sign-off. Each checks, in this order: the Origin (the form
 * came from this server's page), the session and its CSRF token, then the fields;
 * a sign-off of a run that does not exist is 404. The sign-off is the only write.
 */
async function handleReviewerPost(
  request: IncomingMessage,
  url: URL,
  options: EvidenceServerOptions,
  sessions: ReviewerSessions,
): Promise<PostReply> {
  const { log } = options;
  if (url.pathname === '/signin') {
    requireSameOrigin(request);
    const form = parseForm(signInFormSchema, await readForm(request));
    const address = request.socket.remoteAddress ?? 'unknown';
    const wait = sessions.signInWait(form.user, address);
    if (wait !== null) {
      const seconds = Math.max(1, Math.ceil(wait / 1000));
      log.warn({ remote: address }, 'web view: reviewer sign-in throttled');
      return {
        reply: errorReply(
          false,
          429,
          TITLES[429] as string,
          `too many refused sign-ins for this user name or from this address: try again in ${seconds} s`,
        ),
        headers: { 'Retry-After': String(seconds) },
      };
    }
    if (options.auth.isReadOnlySecret(form.secret))
      throw new Forbidden(
        "the read-only credential (serve.auth.token or serve.auth.basic) cannot sign off runs: sign in with a reviewer's user name and password or token (serve.auth.reviewers)",
      );
    const reviewer = sessions.match(form.user, form.secret);
    if (reviewer === null) {
      sessions.signInRefused(form.user, address);
      log.warn({ remote: address }, 'web view: reviewer sign-in refused');
      return {
        reply: {
          status: 401,
          type: 'html',
          body: reviewerSignInPage({ next: form.next ?? '/', refused: true }),
        },
      };
    }
    sessions.signInAccepted(reviewer.user);
    log.info({ reviewer: reviewer.user }, 'web view: reviewer signed in');
    return redirect(form.next ?? '/', { 'Set-Cookie': sessions.open(reviewer) });
  }

  const session = sessions.of(request);
  if (url.pathname === '/signout') {
    requireSameOrigin(request);
    if (session !== null) {
      requireCsrf(session, parseForm(signOutFormSchema, await readForm(request)).csrf);
      sessions.close(request);
    }
    return redirect('/', { 'Set-Cookie': CLEAR_REVIEWER_COOKIE });
  }

  const segment = (SIGNOFF_PATH.exec(url.pathname) as RegExpExecArray)[1] as string;
  let id: string;
  try {
    id = decodeURIComponent(segment);
  } catch {
    throw new BadRequest(`path: '${segment.slice(0, 40)}' is not valid percent-encoding`);
  }
  if (session === null) {
    const auth = options.auth.check(request, url);
    if (auth.kind !== 'refused')
      throw new Forbidden(
        'read-only credentials cannot sign off runs: sign in as a reviewer (serve.auth.reviewers) at /signin',
      );
    throw new BadRequest('sign in as a reviewer at /signin to sign off runs', 401);
  }
  requireSameOrigin(request);
  const fields = await readForm(request);
  requireCsrf(session, fields.csrf);
  const form = parseForm(signoffFormSchema, fields);
  if (!RUN_ID.test(id))
    throw new BadRequest(
      `run id: '${id.slice(0, 40)}' is not a run id; expected a UUID or a unique prefix of it`,
    );
  const found = await getRun(options.db, id);
  if (found === undefined) throw new NotFound(`no run '${id}' in the evidence`);
  const review = await recordReview(
    options.db,
    {
      runId: found.record.runId,
      by: session.user,
      decision: form.decision,
      note: form.note,
      ticket: form.ticket,
      via: 'web',
    },
    options.now ? { now: options.now() } : {},
  );
  log.info(
    { reviewer: session.user, runId: review.runId, decision: review.decision, seq: review.seq },
    'web view: run signed off',
  );
  return redirect(`/runs/${encodeURIComponent(review.runId)}#reviews`);
}

function postFailureReply(error: unknown, log: Logger): Reply {
  if (error instanceof EvidenceError && error.code === 'invalid-record')
    return errorReply(false, 400, TITLES[400] as string, error.message);
  if (error instanceof BadRequest && error.status === 403)
    log.warn({ reason: error.message }, 'web view: form refused');
  return failureReply(error, false, log);
}

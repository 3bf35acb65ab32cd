import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { ServeAuth } from './serve-config.js';

// Who may read the evidence: a bearer token (header, or once as ?token= in a
// browser, which then keeps a cookie) or basic-auth credentials. Every secret is
// compared in constant time, over digests so lengths do not leak either.

/** The session cookie a browser keeps after opening the view with ?token=. */
export const SESSION_COOKIE = 'rd_session';

/** The outcome of checking one request's credentials. */
export type AuthOutcome =
  | { kind: 'ok' }
  /** A valid ?token=: set the cookie and send the browser on to the same address without the token. */
  | { kind: 'token-accepted'; setCookie: string; location: string }
  | { kind: 'refused'; reason: 'missing' | 'wrong'; challenges: string[]; clearCookie: boolean };

/** Checks requests against the configured credentials. */
export interface Authenticator {
  /** What is configured, for the start-up line: never the secrets. */
  readonly schemes: readonly ('token' | 'basic')[];
  check(request: IncomingMessage, url: URL): AuthOutcome;
  /** True when `secret` is the read-only token or basic password (refused as a reviewer's, with a clear message). */
  isReadOnlySecret(secret: string): boolean;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Constant time whatever the inputs' lengths. */
export function safeEqual(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * The cookie value for a token: an HMAC keyed by the token, so the cookie grants
 * a browser session but is not the token itself (it cannot be replayed as a
 * bearer token against the API, nor read back out of a cookie jar).
 */
function sessionValue(token: string): string {
  return createHmac('sha256', token).update('restore-drill web session v1').digest('base64url');
}

/** A cookie's value from the request's Cookie header. */
export function cookieOf(request: IncomingMessage, name: string): string | undefined {
  const header = request.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index > 0 && part.slice(0, index).trim() === name) return part.slice(index + 1).trim();
  }
  return undefined;
}

/** `Authorization: Scheme value` split, the scheme lower-cased. */
function authorization(request: IncomingMessage): { scheme: string; value: string } | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^\s*(\S+)\s+(.+?)\s*$/.exec(header);
  return match
    ? { scheme: (match[1] as string).toLowerCase(), value: match[2] as string }
    : { scheme: '', value: '' };
}

/** The address without its `token` parameter, for the redirect after a token sign-in. */
function withoutToken(url: URL): string {
  const params = new URLSearchParams(url.search);
  params.delete('token');
  const query = params.toString();
  // One leading slash: `//host` would send the browser to another site.
  return `/${url.pathname.replace(/^\/+/, '')}${query === '' ? '' : `?${query}`}`;
}

/** An authenticator for `auth`; null serves without authentication (`--insecure-no-auth`). */
export function createAuthenticator(auth: ServeAuth | null): Authenticator {
  if (auth === null)
    return { schemes: [], check: () => ({ kind: 'ok' }), isReadOnlySecret: () => false };
  const token = auth.token;
  const basic = auth.basic;
  if (token === undefined && basic === undefined && (auth.reviewers ?? []).length === 0)
    throw new Error('createAuthenticator: no credentials configured');
  const session = token === undefined ? undefined : sessionValue(token);
  const challenges = [
    ...(basic ? ['Basic realm="restore-drill", charset="UTF-8"'] : []),
    ...(token ? ['Bearer realm="restore-drill"'] : []),
  ];
  const schemes = [...(token ? (['token'] as const) : []), ...(basic ? (['basic'] as const) : [])];
  return {
    schemes,
    isReadOnlySecret(secret) {
      // Both compared every time, as credentials always are.
      const isToken = token !== undefined && safeEqual(secret, token);
      const isPassword = basic !== undefined && safeEqual(secret, basic.password);
      return isToken || isPassword;
    },
    check(request, url) {
      let presented = false;
      const header = authorization(request);
      if (header !== undefined) {
        presented = true;
        if (header.scheme === 'bearer' && token !== undefined && safeEqual(header.value, token))
          return { kind: 'ok' };
        if (header.scheme === 'basic' && basic !== undefined && basicMatches(header.value, basic))
          return { kind: 'ok' };
      }
      const queryToken = url.searchParams.get('token');
      if (queryToken !== null) {
        presented = true;
        if (token !== undefined && session !== undefined && safeEqual(queryToken, token)) {
          return {
            kind: 'token-accepted',
            setCookie: `${SESSION_COOKIE}=${session}; Path=/; HttpOnly; SameSite=Strict`,
            location: withoutToken(url),
          };
        }
      }
      const cookie = cookieOf(request, SESSION_COOKIE);
      if (cookie !== undefined) {
        if (session !== undefined && safeEqual(cookie, session)) return { kind: 'ok' };
        presented = true;
      }
      return {
        kind: 'refused',
        reason: presented ? 'wrong' : 'missing',
        challenges,
        clearCookie: cookie !== undefined,
      };
    },
  };
}

function basicMatches(value: string, expected: { user: string; password: string }): boolean {
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon < 0 ? decoded : decoded.slice(0, colon);
  const password = colon < 0 ? '' : decoded.slice(colon + 1);
  // Both compared every time: which half was wrong must not show in the timing.
  const userOk = safeEqual(user, expected.user);
  const passwordOk = safeEqual(password, expected.password);
  return userOk && passwordOk && colon >= 0;
}

/** The cookie header that makes a browser forget a stale session. */
export const CLEAR_SESSION_COOKIE = `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;

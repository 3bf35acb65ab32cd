import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { REVIEW_DECISIONS } from '../../evidence/database.js';
import { cookieOf, safeEqual } from './auth.js';
import { BadRequest } from './query.js';
import type { Reviewer } from './serve-config.js';

// Reviewers sign in with a form (user name and password or token) and get a
// session cookie (HttpOnly, SameSite=Strict) naming a session held in memory: a
// restart signs everyone out. Every POST must carry the session's CSRF token and
// an Origin (or Referer) naming this server's own host.

/** The cookie a reviewer's browser keeps after signing in. */
export const REVIEWER_COOKIE = 'rd_reviewer';

/** The cookie header that makes a browser forget its reviewer session. */
export const CLEAR_REVIEWER_COOKIE = `${REVIEWER_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;

/** A signed-in reviewer's session lasts this long, then they sign in again. */
export const REVIEWER_SESSION_MS = 12 * 3_600_000;

/** Sessions held at most: the oldest goes first (memory stays bounded whatever is posted). */
const MAX_SESSIONS = 1_000;

/** Refused sign-ins counted per user name and per client address over this window. */
export const SIGNIN_WINDOW_MS = 60_000;
/** Refused sign-ins for one user name within the window before further tries get 429. */
export const MAX_REFUSED_PER_USER = 5;
/** Per address (reviewers behind one proxy share it, so more). */
export const MAX_REFUSED_PER_ADDRESS = 10;
/** Keys (user names and addresses) remembered at most: the oldest goes first. */
const MAX_THROTTLED_KEYS = 10_000;

/** The largest form body read (a 4000-character note, percent-encoded, fits). */
export const MAX_FORM_BYTES = 64 * 1024;

/** A signed-in reviewer, as pages and handlers see them. */
export interface ReviewerSession {
  user: string;
  /** Sent back in every form; a POST without it is refused. */
  csrf: string;
}

interface StoredSession extends ReviewerSession {
  expiresAt: number;
}

const newSecret = () => randomBytes(32).toString('base64url');

/** The configured reviewers and their signed-in sessions. */
export class ReviewerSessions {
  readonly #reviewers: readonly Reviewer[];
  readonly #sessions = new Map<string, StoredSession>();
  /** Times of refused sign-ins within the window, per `user:NAME` and `address:IP`. */
  readonly #refusals = new Map<string, number[]>();
  readonly #now: () => Date;

  constructor(reviewers: readonly Reviewer[], now: () => Date) {
    this.#reviewers = reviewers;
    this.#now = now;
  }

  /** True when any reviewer is configured (the sign-in page and sign-off form exist). */
  get enabled(): boolean {
    return this.#reviewers.length > 0;
  }

  /**
   * The reviewer whose user name and secret (password or token) these are, or null.
   * Every reviewer is compared, in constant time, so the timing tells nothing of which matched.
   */
  match(user: string, secret: string): Reviewer | null {
    let found: Reviewer | null = null;
    for (const reviewer of this.#reviewers) {
      const userOk = safeEqual(user, reviewer.user);
      const secretOk = safeEqual(secret, reviewer.password ?? reviewer.token ?? '');
      if (userOk && secretOk && found === null) found = reviewer;
    }
    return found;
  }

  /**
   * How long (ms) sign-ins for this user name or from this address must wait, having
   * been refused too often in the last minute; null when they may try now.
   */
  signInWait(user: string, address: string): number | null {
    const now = this.#now().getTime();
    let wait: number | null = null;
    for (const [key, limit] of this.#signInKeys(user, address)) {
      const refused = this.#recentRefusals(key, now);
      if (refused.length < limit) continue;
      const until = (refused[refused.length - limit] as number) + SIGNIN_WINDOW_MS - now;
      wait = Math.max(wait ?? 0, until);
    }
    return wait;
  }

  /** Counts a refused sign-in against the user name and the address. */
  signInRefused(user: string, address: string): void {
    const now = this.#now().getTime();
    for (const [key] of this.#signInKeys(user, address)) {
      const refused = this.#recentRefusals(key, now);
      refused.push(now);
      this.#refusals.delete(key);
      if (this.#refusals.size >= MAX_THROTTLED_KEYS) {
        const oldest = this.#refusals.keys().next().value;
        if (oldest !== undefined) this.#refusals.delete(oldest);
      }
      this.#refusals.set(key, refused);
    }
  }

  /** A signed-in user starts afresh (their address keeps its count: others may share it). */
  signInAccepted(user: string): void {
    this.#refusals.delete(`user:${user}`);
  }

  #signInKeys(user: string, address: string): [string, number][] {
    return [
      [`user:${user}`, MAX_REFUSED_PER_USER],
      [`address:${address}`, MAX_REFUSED_PER_ADDRESS],
    ];
  }

  /** The key's refusals within the window, oldest first (older ones forgotten). */
  #recentRefusals(key: string, now: number): number[] {
    const recent = (this.#refusals.get(key) ?? []).filter((at) => at > now - SIGNIN_WINDOW_MS);
    if (recent.length === 0) this.#refusals.delete(key);
    else this.#refusals.set(key, recent);
    return recent;
  }

  /** Opens a session for `reviewer`; returns its Set-Cookie header. */
  open(reviewer: Reviewer): string {
    if (this.#sessions.size >= MAX_SESSIONS) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest !== undefined) this.#sessions.delete(oldest);
    }
    const id = newSecret();
    this.#sessions.set(id, {
      user: reviewer.user,
      csrf: newSecret(),
      expiresAt: this.#now().getTime() + REVIEWER_SESSION_MS,
    });
    return `${REVIEWER_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${REVIEWER_SESSION_MS / 1000}`;
  }

  /** The request's reviewer session, or null (no cookie, unknown or expired session). */
  of(request: IncomingMessage): ReviewerSession | null {
    const id = cookieOf(request, REVIEWER_COOKIE);
    if (id === undefined) return null;
    const session = this.#sessions.get(id);
    if (session === undefined) return null;
    if (session.expiresAt <= this.#now().getTime()) {
      this.#sessions.delete(id);
      return null;
    }
    return { user: session.user, csrf: session.csrf };
  }

  /** Ends the request's session, if any. */
  close(request: IncomingMessage): void {
    const id = cookieOf(request, REVIEWER_COOKIE);
    if (id !== undefined) this.#sessions.delete(id);
  }
}

/** A request refused before anything is read or written: 403 with why. */
export class Forbidden extends BadRequest {
  constructor(message: string) {
    super(message, 403);
  }
}

/**
 * Refuses a POST that did not come from a page of this server: its Origin (or,
 * without one, its Referer) must name the host the request was sent to.
 */
export function requireSameOrigin(request: IncomingMessage): void {
  const host = request.headers.host;
  const origin = request.headers.origin ?? request.headers.referer;
  if (origin === undefined || origin === 'null')
    throw new Forbidden(
      'the request names no Origin or Referer: forms are only accepted from this server’s own pages',
    );
  let from: string;
  try {
    from = new URL(origin).host;
  } catch {
    throw new Forbidden(`Origin '${origin.slice(0, 80)}' is not a URL`);
  }
  if (host === undefined || from !== host)
    throw new Forbidden(
      `the form was sent from ${origin.slice(0, 80)}, not from this server (${host ?? 'no Host header'}): refused`,
    );
}

/** Refuses a form whose CSRF token is not the session's. */
export function requireCsrf(session: ReviewerSession, given: string | undefined): void {
  if (given === undefined || !safeEqual(given, session.csrf))
    throw new Forbidden(
      'the form’s CSRF token is missing or not this session’s: reload the page and sign off again',
    );
}

/** Reads a urlencoded form body (at most MAX_FORM_BYTES) into its fields; a repeated field is refused. */
export async function readForm(request: IncomingMessage): Promise<Record<string, string>> {
  const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded')
    throw new BadRequest(
      `Content-Type: '${type ?? ''}' is not accepted; expected application/x-www-form-urlencoded (an HTML form)`,
    );
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES)
      throw new BadRequest(`form: larger than ${MAX_FORM_BYTES} bytes`, 413);
    chunks.push(chunk);
  }
  const fields: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(Buffer.concat(chunks).toString('utf8'))) {
    if (key in fields) throw new BadRequest(`${key}: given more than once; expected one value`);
    fields[key] = value;
  }
  return fields;
}

/** The sign-in form. */
export const signInFormSchema = z.strictObject({
  user: z.string().min(1, { message: 'expected your user name' }).max(200),
  secret: z.string().min(1, { message: 'expected your password or token' }).max(1000),
  /** Where to go after signing in: a path on this server. */
  next: z
    .string()
    .regex(/^\/(?!\/)[^\\\s]*$/, { message: 'expected a path on this server' })
    .max(2000)
    .optional(),
});

/** The sign-off form on a run's page; the reviewer's name comes from the session, never the form. */
export const signoffFormSchema = z.strictObject({
  csrf: z.string().max(200),
  decision: z.enum(REVIEW_DECISIONS, {
    message: `expected one of ${REVIEW_DECISIONS.join(', ')}`,
  }),
  note: z
    .string()
    .trim()
    .min(1, { message: 'expected a note saying what was found and decided' })
    .max(4000, { message: 'expected at most 4000 characters' }),
  ticket: z
    .string()
    .trim()
    .max(200, { message: 'expected at most 200 characters' })
    .optional()
    .transform((ticket) => (ticket === undefined || ticket === '' ? null : ticket)),
});

/** The sign-out form. */
export const signOutFormSchema = z.strictObject({ csrf: z.string().max(200) });

/** Parses a form with `schema`; the first problem is a 400 naming its field. */
export function parseForm<S extends z.ZodType>(
  schema: S,
  fields: Record<string, string>,
): z.output<S> {
  const parsed = schema.safeParse(fields);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0] as z.core.$ZodIssue;
  const field =
    issue.code === 'unrecognized_keys'
      ? issue.keys.join(', ')
      : issue.path.map(String).join('.') || 'form';
  const message = issue.code === 'unrecognized_keys' ? 'not a field of this form' : issue.message;
  throw new BadRequest(`${field}: ${message}`);
}

import { z } from 'zod';

/** The default port of `restore-drill serve` (no registered service uses it). */
export const DEFAULT_SERVE_PORT = 8470;

/** Loopback by default: reaching the evidence from another machine is a decision, not an accident. */
export const DEFAULT_SERVE_HOST = '127.0.0.1';

/** A reviewer's user name: recorded as the review's `by`, so one printable line. */
const reviewerUserSchema = z
  .string()
  .trim()
  .min(1, { message: 'expected a user name' })
  .max(200, { message: 'expected at most 200 characters' })
  .refine((user) => !/\p{Cc}/u.test(user), {
    message: 'expected one line without control characters',
  })
  .describe("The reviewer's user name, recorded as `by` in each review they sign.");

/** One person who may sign off runs in the web view: a user name and a password or a token. */
export const reviewerSchema = z
  .strictObject({
    user: reviewerUserSchema,
    password: z
      .string()
      .min(12, { message: 'expected at least 12 characters' })
      .optional()
      .describe("The reviewer's password, written as ${env:NAME}."),
    token: z
      .string()
      .min(16, { message: 'expected at least 16 characters (e.g. `openssl rand -hex 32`)' })
      .optional()
      .describe("The reviewer's token (typed into the sign-in form), written as ${env:NAME}."),
  })
  .superRefine((reviewer, ctx) => {
    if ((reviewer.password === undefined) === (reviewer.token === undefined))
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: 'expected either password or token (one of the two)',
      });
  })
  .describe('A reviewer: { user, password: ${env:…} } or { user, token: ${env:…} }.');
export type Reviewer = z.output<typeof reviewerSchema>;

/** How people sign in to the web view. Both come from the environment: write `${env:NAME}`. */
export const serveAuthSchema = z
  .strictObject({
    token: z
      .string()
      .min(16, { message: 'expected at least 16 characters (e.g. `openssl rand -hex 32`)' })
      .optional()
      .describe(
        "Bearer token, written as ${env:RD_WEB_TOKEN}: send 'Authorization: Bearer TOKEN', or open the address once with ?token=TOKEN (a browser then keeps an HttpOnly cookie).",
      ),
    basic: z
      .strictObject({
        user: z
          .string()
          .min(1)
          .refine((user) => !user.includes(':'), { message: "expected a user name without ':'" })
          .describe('User name for HTTP basic authentication.'),
        password: z
          .string()
          .min(12, { message: 'expected at least 12 characters' })
          .describe('Password for HTTP basic authentication, written as ${env:RD_WEB_PASSWORD}.'),
      })
      .optional()
      .describe('HTTP basic authentication: browsers ask for the user name and password.'),
    reviewers: z
      .array(reviewerSchema)
      .optional()
      .describe(
        "People who may sign off runs in the web view (the only writes it makes: a review appended to the evidence chain, recorded with the reviewer's user name and via 'web'). They sign in on the /signin page with their user name and password or token; the read-only token and basic credentials cannot sign off.",
      ),
  })
  .superRefine((auth, ctx) => {
    const seen = new Set<string>();
    auth.reviewers?.forEach((reviewer, index) => {
      if (seen.has(reviewer.user))
        ctx.addIssue({
          code: 'custom',
          path: ['reviewers', index, 'user'],
          message: `'${reviewer.user}' is listed twice; expected each reviewer once`,
        });
      seen.add(reviewer.user);
    });
  })
  .describe(
    'Credentials for the web view; serve refuses to start without one unless --insecure-no-auth is given.',
  );
export type ServeAuth = z.output<typeof serveAuthSchema>;

/** `restore-drill serve`: where the read-only web view listens and who may read it. */
export const serveConfigSchema = z
  .strictObject({
    host: z
      .string()
      .min(1)
      .default(DEFAULT_SERVE_HOST)
      .describe('Address to listen on; 127.0.0.1 (loopback only) unless you mean to share it.'),
    port: z
      .number()
      .int({ message: 'expected a port from 0 to 65535' })
      .min(0, { message: 'expected a port from 0 to 65535' })
      .max(65535, { message: 'expected a port from 0 to 65535' })
      .default(DEFAULT_SERVE_PORT)
      .describe('TCP port; 0 picks a free one.'),
    auth: serveAuthSchema.prefault({}),
  })
  .describe('The read-only web view and JSON API (`restore-drill serve`).');
export type ServeConfig = z.output<typeof serveConfigSchema>;

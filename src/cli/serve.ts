import { Command, Option } from 'commander';
import type { LoadedConfig } from '../config/load.js';
import type { Logger } from '../log/logger.js';
import { createAuthenticator } from '../report/server/auth.js';
import { embeddedDirFor } from '../evidence/embedded-dir.js';
import { openReadOnlyStore } from '../report/server/read-only-store.js';
import {
  serveConfigSchema,
  type ServeAuth,
  type ServeConfig,
} from '../report/server/serve-config.js';
import { startEvidenceServer } from '../report/server/server.js';
import { loadConfigOrExit, loggerFor, withCommonOptions, type CommonOptions } from './context.js';
import { CliError, ExitCode } from './exit-codes.js';

interface ServeOptions extends CommonOptions {
  host?: string;
  port?: string;
  insecureNoAuth?: boolean;
}

const HELP_AFTER = `
Access: set serve.auth.token (e.g. token: \${env:RD_WEB_TOKEN}) and/or serve.auth.basic
{ user, password: \${env:RD_WEB_PASSWORD} } in the config. Send 'Authorization: Bearer TOKEN',
or open http://HOST:PORT/?token=TOKEN once in a browser (it keeps an HttpOnly cookie).

Sign-off: reviewers listed in serve.auth.reviewers ({ user, password: \${env:…} } or
{ user, token: \${env:…} }) sign in at /signin and sign off failed runs on the run's page;
that review is the only write. The read-only token and basic credentials cannot sign off.

Read-only: otherwise only GET and HEAD are answered. On PostgreSQL the server's sessions are read-only
(default_transaction_read_only). With the embedded database (PGlite, no database.url),
serve holds the database lock while it runs: stop it before running drills or other
commands on the same config, or use PostgreSQL to serve and run drills side by side.

Stops cleanly on SIGTERM or SIGINT (Ctrl-C).`;

/** `restore-drill serve`: the read-only web view and JSON API over the evidence. */
export function serveCommand(): Command {
  const command = new Command('serve')
    .description(
      'Serve a read-only web view and JSON API of the evidence, for reviewers and auditors',
    )
    .option('--host <host>', 'address to listen on (default: serve.host, or 127.0.0.1)')
    .option('--port <port>', 'TCP port, 0 for any free one (default: serve.port, or 8470)')
    .addOption(
      new Option('--insecure-no-auth', 'serve WITHOUT authentication, on a loopback address only'),
    )
    .addHelpText('after', HELP_AFTER);
  withCommonOptions(command, { json: false }).action(async (options: ServeOptions) => {
    const loaded = await loadConfigOrExit(options, { uses: ['serve'] });
    const serve = loaded.config.serve ?? serveConfigSchema.parse({});
    const host = options.host ?? serve.host;
    const port = options.port === undefined ? serve.port : parsePort(options.port);
    const auth = authFor(loaded, serve, host, options.insecureNoAuth === true);
    const log = loggerFor(options);
    if (auth === null) warnInsecure(log, host);

    // Listen for the stop signals before anything else: a signal that came between the
    // start-up line and the handlers would kill the process instead of stopping it.
    const stopping = stopSignal();
    let store;
    try {
      store = await openReadOnlyStore({
        ...(loaded.config.database.url ? { url: loaded.config.database.url } : {}),
        embeddedDir: embeddedDirFor(loaded.config.database, loaded.dir),
        log,
      });
    } catch (error) {
      stopping.cancel();
      throw new CliError(
        `cannot open the evidence database: ${(error as Error).message}`,
        ExitCode.Failed,
      );
    }
    try {
      if (stopping.received() !== null) {
        log.info({ signal: stopping.received() }, 'stopped before serving');
        return;
      }
      const authenticator = createAuthenticator(auth);
      let server;
      try {
        server = await startEvidenceServer({
          db: store.db,
          drills: loaded.config.drills,
          auth: authenticator,
          log,
          host,
          port,
          reviewers: auth?.reviewers,
        });
      } catch (error) {
        stopping.cancel();
        throw new CliError((error as Error).message, ExitCode.Failed);
      }
      log.info(
        {
          url: server.url,
          auth: authenticator.schemes.length === 0 ? 'none' : authenticator.schemes.join('+'),
          reviewers: (auth?.reviewers ?? []).length,
          database: store.dialect,
          drills: loaded.config.drills.length,
        },
        `serving the evidence read-only at ${server.url}${(auth?.reviewers ?? []).length > 0 ? ' (reviewers may sign off runs)' : ''}`,
      );
      const signal = await stopping.signal;
      log.info({ signal }, 'stopping the web view');
      await server.close();
    } finally {
      await store.close();
    }
    log.info('web view stopped');
  });
  return command;
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port > 65535)
    throw new CliError(
      `--port: '${text}' is not a port; expected a whole number from 0 to 65535`,
      ExitCode.Usage,
    );
  return port;
}

/** A secret must come from the environment: the raw (unresolved) config must say `${env:NAME}` there. */
function requireEnvReference(loaded: LoadedConfig, keyPath: readonly string[]): void {
  let node: unknown = loaded.raw;
  for (const key of keyPath)
    node =
      node !== null && typeof node === 'object'
        ? (node as Record<string, unknown>)[key]
        : undefined;
  if (typeof node === 'string' && !/^\$\{env:[A-Za-z_][A-Za-z0-9_]*\}$/.test(node.trim())) {
    throw new CliError(
      `${loaded.file} ${keyPath.map((key, index) => (/^\d+$/.test(key) ? `[${key}]` : `${index > 0 ? '.' : ''}${key}`)).join('')}: write the secret as \${env:NAME} (e.g. \${env:RD_WEB_TOKEN}) and set it in the environment; it must not be written in the config file`,
      ExitCode.Usage,
    );
  }
}

/** The credentials to require, or null for an explicit --insecure-no-auth; refuses every unsafe combination. */
function authFor(
  loaded: LoadedConfig,
  serve: ServeConfig,
  host: string,
  insecure: boolean,
): ServeAuth | null {
  const configured =
    serve.auth.token !== undefined ||
    serve.auth.basic !== undefined ||
    (serve.auth.reviewers ?? []).length > 0;
  if (insecure) {
    if (configured)
      throw new CliError(
        '--insecure-no-auth: serve.auth is configured; remove one of the two',
        ExitCode.Usage,
      );
    if (!isLoopback(host))
      throw new CliError(
        `--insecure-no-auth: only allowed on a loopback address (127.0.0.1, ::1, localhost), not '${host}'`,
        ExitCode.Usage,
      );
    return null;
  }
  if (!configured) {
    throw new CliError(
      `no access control configured: set serve.auth.token (e.g. token: \${env:RD_WEB_TOKEN}) or serve.auth.basic in ${loaded.file}, or pass --insecure-no-auth to serve without it on loopback`,
      ExitCode.Usage,
    );
  }
  requireEnvReference(loaded, ['serve', 'auth', 'token']);
  requireEnvReference(loaded, ['serve', 'auth', 'basic', 'password']);
  serve.auth.reviewers?.forEach((_reviewer, index) => {
    requireEnvReference(loaded, ['serve', 'auth', 'reviewers', String(index), 'password']);
    requireEnvReference(loaded, ['serve', 'auth', 'reviewers', String(index), 'token']);
  });
  return serve.auth;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

function warnInsecure(log: Logger, host: string): void {
  const line = '!'.repeat(78);
  process.stderr.write(
    `${line}\n!! restore-drill serve: NO AUTHENTICATION (--insecure-no-auth).\n!! Anyone who can reach ${host} on this machine can read all restore evidence.\n!! Configure serve.auth.token or serve.auth.basic for anything but a quick local look.\n${line}\n`,
  );
  log.warn({ host }, 'serving without authentication (--insecure-no-auth)');
}

/** The first SIGTERM or SIGINT from now on; `cancel` removes the handlers when serve gives up early. */
function stopSignal(): {
  signal: Promise<NodeJS.Signals>;
  received(): NodeJS.Signals | null;
  cancel(): void;
} {
  let stop: (signal: NodeJS.Signals) => void = () => {};
  let received: NodeJS.Signals | null = null;
  const remove = () => {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  };
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    stop = (signal) => {
      remove();
      received = signal;
      resolve(signal);
    };
  });
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return { signal, received: () => received, cancel: remove };
}

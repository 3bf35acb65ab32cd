import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log/logger.js';

/** A Prometheus text exposition, as prom-client's `registry.metrics()` renders it. */
export interface MetricsSource {
  render(): Promise<{ contentType: string; body: string }>;
}

/** What /healthz answers: a JSON body, and whether the daemon is healthy (200) or not (503). */
export interface Health {
  ok: boolean;
  body: Record<string, unknown>;
}

export interface DaemonHttpOptions {
  host: string;
  port: number;
  health: () => Health | Promise<Health>;
  /** Rendered one after another at /metrics (the daemon's own, the drills' from the alerts metrics…). */
  metrics: readonly MetricsSource[];
  log: Logger;
}

/** The daemon's listener. */
export interface DaemonHttp {
  /** `http://host:port` (IPv6 hosts in brackets). */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * A small node:http server: GET or HEAD /healthz (JSON status) and /metrics
 * (Prometheus text from every source, concatenated); 404 elsewhere, 405 for
 * other methods. Errors while rendering answer 500 and are logged, never thrown.
 */
export async function startDaemonHttp(options: DaemonHttpOptions): Promise<DaemonHttp> {
  const server = createServer((request, response) => {
    handle(request, response, options).catch((error: unknown) => {
      options.log.error(
        { err: (error as Error).message, path: request.url },
        'HTTP request failed',
      );
      if (!response.headersSent)
        response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      response.end('internal error\n');
    });
  });
  // Probes and scrapers keep connections open; a stop must not wait for them.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => options.log.error({ err: error.message }, 'HTTP server error'));
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  options: DaemonHttpOptions,
): Promise<void> {
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  if (path !== '/healthz' && path !== '/metrics') {
    response
      .writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
      .end('not found; try /healthz or /metrics\n');
    return;
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response
      .writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' })
      .end('method not allowed\n');
    return;
  }
  let status: number;
  let contentType: string;
  let body: string;
  if (path === '/healthz') {
    const health = await options.health();
    status = health.ok ? 200 : 503;
    contentType = 'application/json; charset=utf-8';
    body = `${JSON.stringify(health.body, null, 2)}\n`;
  } else {
    const parts = await Promise.all(options.metrics.map((source) => source.render()));
    status = 200;
    contentType = parts[0]?.contentType ?? 'text/plain; version=0.0.4; charset=utf-8';
    body = parts
      .map((part) => (part.body.endsWith('\n') || part.body === '' ? part.body : `${part.body}\n`))
      .join('');
  }
  response.writeHead(status, {
    'content-type': contentType,
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
  });
  response.end(request.method === 'HEAD' ? undefined : body);
}

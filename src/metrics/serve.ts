import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A running metrics server. */
export interface MetricsServer {
  /** `http://host:port/metrics`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * A minimal node:http server serving `handler` at /metrics (404 elsewhere), for
 * `restore-drill` commands and tests; the daemon mounts the same handler on its
 * own server beside /healthz. Port 0 picks a free port.
 */
export async function startMetricsServer(options: {
  handler: (request: IncomingMessage, response: ServerResponse) => void;
  host?: string;
  port?: number;
}): Promise<MetricsServer> {
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (path === '/metrics') options.handler(request, response);
    else
      response
        .writeHead(404, { 'content-type': 'text/plain' })
        .end('not found; metrics are at /metrics\n');
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/metrics`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

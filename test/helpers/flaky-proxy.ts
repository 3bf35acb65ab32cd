import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A loopback HTTP proxy in front of s3rver that injects the faults a real object store
 * produces but s3rver will not on demand: 5xx and throttling answers, slow and stalled
 * responses, cut connections, and answers s3rver does not implement (412 on If-Match,
 * stored checksums, multipart ETags, auth failures of V4 signatures).
 */

/** What the proxy does with one request. */
export type ProxyAction =
  /** Forward to s3rver; optionally after a delay, with headers set and text replaced in headers and body. */
  | {
      kind: 'pass';
      delayMs?: number;
      setHeaders?: Record<string, string>;
      replace?: [string, string][];
    }
  /** Answer with an S3-style XML error, or with `raw` as the body (a gateway's HTML page). */
  | { kind: 'error'; status: number; code?: string; message?: string; raw?: string }
  /** Never answer. */
  | { kind: 'stall' }
  /** Send the headers and the first `afterBytes` bytes of the body, then go silent. */
  | { kind: 'stall-body'; afterBytes: number }
  /** Send the headers and the first `afterBytes` bytes, then cut the connection. */
  | { kind: 'reset-body'; afterBytes: number };

export interface ProxiedRequest {
  /** 1 for the first request the proxy sees. */
  seq: number;
  method: string;
  /** The object key for path-style object requests, else null. */
  key: string | null;
  bucket: string | null;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
}

export interface ProxyLogEntry {
  seq: number;
  method: string;
  key: string | null;
  query: string;
  headers: http.IncomingHttpHeaders;
  action: ProxyAction['kind'];
}

export type ProxyRule = (request: ProxiedRequest) => ProxyAction | Promise<ProxyAction>;

export interface FlakyProxy {
  endpoint: string;
  /** Every request seen, in order. */
  log: ProxyLogEntry[];
  /** Requests being answered right now (per method): a client that gave up has closed its own. */
  inFlight: Record<string, number>;
  /** The most requests answered at once (per method). */
  maxInFlight: Record<string, number>;
  setRule(rule: ProxyRule): void;
  close(): Promise<void>;
}

export const passAll: ProxyRule = () => ({ kind: 'pass' });

export async function startFlakyProxy(
  target: string,
  initialRule: ProxyRule = passAll,
): Promise<FlakyProxy> {
  const upstream = new URL(target);
  let rule = initialRule;
  let seq = 0;
  const log: ProxyLogEntry[] = [];
  const inFlight: Record<string, number> = {};
  const maxInFlight: Record<string, number> = {};
  const sockets = new Set<Socket>();

  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://proxy');
      const [bucket, ...rest] = url.pathname.slice(1).split('/');
      const key =
        rest.length > 0 && rest.join('/') !== '' ? decodeURIComponent(rest.join('/')) : null;
      const request: ProxiedRequest = {
        seq: ++seq,
        method: req.method ?? 'GET',
        key,
        bucket: bucket ? decodeURIComponent(bucket) : null,
        query: url.searchParams,
        headers: req.headers,
      };
      const action = await rule(request);
      log.push({
        seq: request.seq,
        method: request.method,
        key,
        query: url.search,
        headers: req.headers,
        action: action.kind,
      });
      const method = request.method;
      inFlight[method] = (inFlight[method] ?? 0) + 1;
      maxInFlight[method] = Math.max(maxInFlight[method] ?? 0, inFlight[method]);
      res.once('close', () => (inFlight[method] = (inFlight[method] ?? 1) - 1));

      if (action.kind === 'stall') return;
      if (action.kind === 'error') {
        const body =
          action.raw ??
          `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${action.code ?? 'InternalError'}</Code>` +
            `<Message>${action.message ?? 'injected by the test proxy'}</Message><RequestId>proxy-${request.seq}</RequestId></Error>`;
        res.writeHead(action.status, {
          'content-type': action.raw ? 'text/html' : 'application/xml',
          'content-length': Buffer.byteLength(body),
        });
        res.end(req.method === 'HEAD' ? undefined : body);
        req.resume();
        return;
      }
      if (action.kind === 'pass' && action.delayMs)
        await new Promise((resolve) => setTimeout(resolve, action.delayMs));
      forward(req, res, action);
    })().catch((error: unknown) => {
      res.destroy(error as Error);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  function forward(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    action: Exclude<ProxyAction, { kind: 'stall' } | { kind: 'error' }>,
  ): void {
    const upstreamReq = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
        agent: false,
      },
      (upstreamRes) => {
        const headers = { ...upstreamRes.headers };
        if (action.kind === 'pass' && (action.replace || action.setHeaders)) {
          const chunks: Buffer[] = [];
          upstreamRes.on('data', (chunk: Buffer) => chunks.push(chunk));
          upstreamRes.on('end', () => {
            let body = Buffer.concat(chunks);
            for (const [from, to] of action.replace ?? []) {
              body = Buffer.from(body.toString('latin1').split(from).join(to), 'latin1');
              for (const [name, value] of Object.entries(headers)) {
                if (typeof value === 'string') headers[name] = value.split(from).join(to);
              }
            }
            Object.assign(headers, action.setHeaders ?? {});
            if (req.method !== 'HEAD') headers['content-length'] = String(body.length);
            res.writeHead(upstreamRes.statusCode ?? 502, headers);
            res.end(req.method === 'HEAD' ? undefined : body);
          });
          return;
        }
        res.writeHead(upstreamRes.statusCode ?? 502, headers);
        if (action.kind === 'pass') {
          upstreamRes.pipe(res);
          return;
        }
        // Partial body, then silence or a cut connection.
        let sent = 0;
        upstreamRes.on('data', (chunk: Buffer) => {
          if (sent >= action.afterBytes) return;
          const part = chunk.subarray(0, action.afterBytes - sent);
          sent += part.length;
          res.write(part);
          if (sent >= action.afterBytes && action.kind === 'reset-body') res.socket?.destroy();
        });
      },
    );
    upstreamReq.on('error', (error) => res.destroy(error));
    req.pipe(upstreamReq);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    log,
    inFlight,
    maxInFlight,
    setRule(next) {
      rule = next;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import {
  startDaemonHttp,
  type DaemonHttp,
  type DaemonHttpOptions,
} from '../../src/schedule/http.js';

describe('the daemon HTTP listener', () => {
  let http: DaemonHttp | undefined;
  afterEach(async () => {
    await http?.close();
    http = undefined;
  });

  async function start(overrides: Partial<DaemonHttpOptions> = {}): Promise<DaemonHttp> {
    http = await startDaemonHttp({
      host: '127.0.0.1',
      port: 0,
      health: () => ({ ok: true, body: { status: 'ok', drillsScheduled: 2 } }),
      metrics: [
        {
          render: async () => ({
            contentType: 'text/plain; version=0.0.4; charset=utf-8',
            body: '# HELP a_total A.\n# TYPE a_total counter\na_total 1\n',
          }),
        },
        {
          render: async () => ({
            contentType: 'text/plain; version=0.0.4; charset=utf-8',
            body: '# HELP b B.\n# TYPE b gauge\nb 2',
          }),
        },
      ],
      log: silentLogger(),
      ...overrides,
    });
    return http;
  }

  it('answers /healthz with the JSON status: 200 when healthy, 503 when not', async () => {
    const { url } = await start();
    const response = await fetch(`${url}/healthz`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await response.json()).toEqual({ status: 'ok', drillsScheduled: 2 });
    await http?.close();
    const draining = await start({ health: () => ({ ok: false, body: { status: 'draining' } }) });
    const refused = await fetch(`${draining.url}/healthz`);
    expect(refused.status).toBe(503);
    expect(await refused.json()).toEqual({ status: 'draining' });
  });

  it('serves every metrics source at /metrics, one after another', async () => {
    const { url } = await start();
    const response = await fetch(`${url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await response.text()).toBe(
      '# HELP a_total A.\n# TYPE a_total counter\na_total 1\n# HELP b B.\n# TYPE b gauge\nb 2\n',
    );
    const head = await fetch(`${url}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('answers 404 elsewhere and 405 to other methods', async () => {
    const { url } = await start();
    expect((await fetch(`${url}/`)).status).toBe(404);
    const post = await fetch(`${url}/healthz`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('answers 500 when a source fails, and keeps serving', async () => {
    let fail = true;
    const { url } = await start({
      metrics: [
        {
          render: async () =>
            fail
              ? Promise.reject(new Error('database gone'))
              : { contentType: 'text/plain', body: 'x 1\n' },
        },
      ],
    });
    expect((await fetch(`${url}/metrics`)).status).toBe(500);
    fail = false;
    expect(await (await fetch(`${url}/metrics`)).text()).toBe('x 1\n');
  });

  it('fails to start on a port in use, naming why', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(start({ port })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

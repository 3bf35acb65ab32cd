/**
 * node-postgres, as every module of restore-drill imports it. On loading, pg asks whether it
 * runs in a Cloudflare Worker: where `navigator` is missing (Node 20) it constructs a
 * `Response`, and that first touch loads Node's fetch implementation (undici), about 0.1-0.2 s
 * of CPU in every CLI call that opens a store. While pg loads, a `navigator` like Node 21's
 * answers the question instead; it is removed again as soon as pg has loaded.
 */
/** pg's default export. */
export type NodePostgres = (typeof import('pg'))['default'];

async function loadNodePostgres(): Promise<NodePostgres> {
  if ('navigator' in globalThis) return (await import('pg')).default;
  Object.defineProperty(globalThis, 'navigator', {
    value: { userAgent: `Node.js/${process.versions.node.split('.')[0]}` },
    configurable: true,
  });
  try {
    return (await import('pg')).default;
  } finally {
    delete (globalThis as { navigator?: unknown }).navigator;
  }
}

const pg = await loadNodePostgres();
export default pg;

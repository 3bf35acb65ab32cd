import { describe, expect, it } from 'vitest';

const nodeMajor = Number(process.versions.node.split('.')[0]);

describe('node-postgres loader', () => {
  it('hands out pg itself and leaves no navigator behind where Node has none', async () => {
    const hadNavigator = 'navigator' in globalThis;
    const { default: pg } = await import('../../src/evidence/node-postgres.js');
    const { default: direct } = await import('pg');
    expect(pg).toBe(direct);
    expect(typeof pg.Pool).toBe('function');
    expect('navigator' in globalThis).toBe(hadNavigator);
    // Node 21 and later have a navigator of their own; Node 20 must not gain one.
    if (nodeMajor < 21) expect(hadNavigator).toBe(false);
  });
});
